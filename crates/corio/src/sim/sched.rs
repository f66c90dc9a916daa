//! The simulated workers: N local queues with their LIFO slots, the injector,
//! and the moves a step may make, kept on the simulation's one thread.
//!
//! The rules follow corio-scheduler's workers (`crates/scheduler/src/worker.rs`):
//! - a task woken during a poll goes to that worker's LIFO slot (the task it
//!   displaces to the back of the local queue); a task that woke itself (a
//!   yield) goes to the back of the local queue;
//! - a wake-up from outside any poll (a timer firing, the simulation's start)
//!   goes to the injector;
//! - a worker with work of its own polls its LIFO slot (at most
//!   [`MAX_LIFO_POLLS`] times in a row), else the front of its queue, and every
//!   [`INJECTOR_INTERVAL`] polls the injector first;
//! - an idle worker takes the injector's front, or steals half of a victim's
//!   queue (running the first), or, from a victim with an empty queue, its
//!   LIFO slot;
//! - a local queue holds [`LOCAL_CAPACITY`] tasks; on overflow half of it moves
//!   to the injector;
//! - a local task (`create_local_task`) is pinned to the worker that spawned
//!   it: it waits in that worker's home queue, which no other worker takes
//!   from; a worker with work of its own polls its home on every other turn,
//!   an idle one after the injector (the scheduler's `local.rs` rules).
//!
//! A worker's turn is two steps, as on a real thread: it *takes* a task (into
//! its hands: `current`), and later *polls* it. Other workers may take and
//! poll any number of tasks in between, as when a thread is preempted between
//! popping a task and polling it, or its poll is slow. A poll itself runs to
//! its end in one step: interleavings are explored at `.await` points, the
//! granularity at which async code can race with itself.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;

use corio_core::{Runnable, Schedule, ScheduleInfo, TaskId, TaskMeta, TaskRef};

/// As corio-scheduler's `MAX_LIFO_POLLS`.
const MAX_LIFO_POLLS: u32 = 3;
/// As corio-scheduler's `INJECTOR_INTERVAL`.
const INJECTOR_INTERVAL: u32 = 61;
/// As corio-scheduler's local queue capacity.
const LOCAL_CAPACITY: usize = 256;

/// Where a move takes its task from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// Poll the task this worker took earlier.
    Current,
    Lifo,
    Local,
    Injector,
    /// Half of this victim's queue (the first one is run).
    Steal(usize),
    /// This victim's LIFO slot (its queue is empty).
    StealLifo(usize),
    /// The front of this worker's home queue (its local tasks).
    Home,
}

/// One possible step: `worker` takes the task `task` (a simulation id) from
/// `source`, or polls it (`Source::Current`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Move {
    pub(crate) worker: usize,
    pub(crate) source: Source,
    pub(crate) task: u64,
}

#[derive(Default)]
struct Worker {
    /// Taken, not yet polled.
    current: Option<Runnable>,
    lifo: Option<Runnable>,
    local: VecDeque<Runnable>,
    /// Local tasks pinned to this worker, ready to run.
    home: VecDeque<Runnable>,
    lifo_polls: u32,
    polls: u32,
}

impl Worker {
    fn has_work(&self) -> bool {
        self.lifo.is_some() || !self.local.is_empty()
    }

    /// A busy worker's turn for its home queue: every other poll, as the
    /// scheduler's workers share a thread between local and stealable tasks.
    fn home_turn(&self) -> bool {
        !self.home.is_empty() && self.polls % 2 == 1
    }
}

pub(crate) struct Queues {
    workers: Vec<Worker>,
    injector: VecDeque<Runnable>,
    /// The worker whose poll is running, if any.
    running_on: Option<usize>,
    /// Simulation ids, in order of first scheduling (deterministic, unlike
    /// process-wide `TaskId`s).
    ids: HashMap<TaskId, u64>,
    /// Every task seen, to list blocked tasks and cancel them at the end.
    live: Vec<(u64, TaskRef)>,
    /// `live.len()` after its last pruning of finished tasks.
    pruned_at: usize,
}

/// What the simulation shares with its tasks' schedule functions (which must
/// be `Send + Sync`, though they only ever run on the simulation's thread).
pub(crate) struct Shared {
    thread: ThreadId,
    queues: Mutex<Queues>,
    leak: Mutex<Option<String>>,
    unhandled_panics: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section moves plain values: poison is harmless.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(workers: usize) -> Shared {
        Shared {
            thread: std::thread::current().id(),
            queues: Mutex::new(Queues {
                workers: (0..workers.max(1)).map(|_| Worker::default()).collect(),
                injector: VecDeque::new(),
                running_on: None,
                ids: HashMap::new(),
                live: Vec::new(),
                pruned_at: 0,
            }),
            leak: Mutex::new(None),
            unhandled_panics: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn queues(&self) -> MutexGuard<'_, Queues> {
        lock(&self.queues)
    }

    /// Records the first leak of non-determinism.
    pub(crate) fn record_leak(&self, what: String) {
        let mut leak = lock(&self.leak);
        if leak.is_none() {
            *leak = Some(what);
        }
    }

    pub(crate) fn take_leak(&self) -> Option<String> {
        lock(&self.leak).take()
    }

    fn unhandled_panic(&self, task: &TaskMeta, payload: &(dyn std::any::Any + Send)) {
        let msg = corio_core::panic_message(payload).unwrap_or("(a non-string payload)");
        let id = self.queues().ids.get(&task.id()).copied();
        lock(&self.unhandled_panics).push(format!(
            "sim task {} {} panicked and nobody awaited it: {msg}",
            id.map_or("?".to_owned(), |i| i.to_string()),
            describe(task)
        ));
    }

    /// The simulated worker whose poll is running (where a local task spawned
    /// now is pinned); worker 0 outside a poll.
    pub(crate) fn running_worker(&self) -> usize {
        self.queues().running_on.unwrap_or(0)
    }

    pub(crate) fn take_unhandled_panic(&self) -> Option<String> {
        let mut p = lock(&self.unhandled_panics);
        (!p.is_empty()).then(|| p.remove(0))
    }

    fn schedule(&self, runnable: Runnable, info: ScheduleInfo, home: Option<usize>) {
        if std::thread::current().id() != self.thread {
            let who = describe(runnable.meta());
            self.record_leak(format!(
                "a task {who} was woken from another OS thread ({:?}) during a simulation: a real thread \
                 (std::thread::spawn, a ThreadPool or runtime made outside the simulation) \
                 makes the run depend on the OS scheduler. Keep every thread out of the \
                 simulated program (corio::to_thread runs inline in a simulation)",
                std::thread::current().name().unwrap_or("unnamed"),
            ));
        }
        let mut q = self.queues();
        q.register(&runnable);
        if let Some(w) = home {
            q.workers[w].home.push_back(runnable);
            return;
        }
        match q.running_on {
            Some(w) if info.woken_while_running || info.woken_by_join => q.push_local(w, runnable),
            Some(w) => {
                if let Some(displaced) = q.workers[w].lifo.replace(runnable) {
                    q.push_local(w, displaced);
                }
            }
            None => q.injector.push_back(runnable),
        }
    }
}

/// "'name' (spawned at file:line)", without the process-wide task id (which
/// differs between runs of one seed).
pub(crate) fn describe(meta: &TaskMeta) -> String {
    let mut s = String::new();
    if let Some(name) = meta.name() {
        s.push_str(&format!(" '{name}'"));
    }
    if let Some(loc) = meta.location() {
        s.push_str(&format!(" (spawned at {}:{})", loc.file(), loc.line()));
    }
    s.trim_start().to_owned()
}

impl Queues {
    /// Gives a task seen for the first time its simulation id.
    fn register(&mut self, runnable: &Runnable) {
        let next = self.ids.len() as u64;
        if let std::collections::hash_map::Entry::Vacant(e) = self.ids.entry(runnable.id()) {
            e.insert(next);
            self.live.push((next, runnable.task_ref()));
            if self.live.len() >= 2 * self.pruned_at.max(64) {
                self.live.retain(|(_, t)| !t.is_finished());
                self.pruned_at = self.live.len();
            }
        }
    }

    fn push_local(&mut self, w: usize, runnable: Runnable) {
        let local = &mut self.workers[w].local;
        if local.len() >= LOCAL_CAPACITY {
            let half = local.len() / 2;
            self.injector.extend(local.drain(..half));
        }
        self.workers[w].local.push_back(runnable);
    }

    fn sim_id(&self, r: &Runnable) -> u64 {
        self.ids.get(&r.id()).copied().unwrap_or(u64::MAX)
    }

    /// Every move a step could make now, in a fixed order (so a seed's choice
    /// indexes the same move every time).
    pub(crate) fn moves(&self, out: &mut Vec<Move>) {
        out.clear();
        for (w, worker) in self.workers.iter().enumerate() {
            if let Some(r) = &worker.current {
                out.push(Move {
                    worker: w,
                    source: Source::Current,
                    task: self.sim_id(r),
                });
                continue;
            }
            if worker.home_turn() || (!worker.has_work() && self.injector.is_empty()) {
                if let Some(r) = worker.home.front() {
                    out.push(Move {
                        worker: w,
                        source: Source::Home,
                        task: self.sim_id(r),
                    });
                    continue;
                }
            }
            if worker.has_work() {
                let injector_turn = worker.polls % INJECTOR_INTERVAL == INJECTOR_INTERVAL - 1;
                let (source, r) = match (&worker.lifo, worker.local.front()) {
                    _ if injector_turn && !self.injector.is_empty() => {
                        (Source::Injector, self.injector.front())
                    }
                    (Some(r), _) if worker.lifo_polls < MAX_LIFO_POLLS => (Source::Lifo, Some(r)),
                    (_, Some(r)) => (Source::Local, Some(r)),
                    (lifo, None) => (Source::Lifo, lifo.as_ref()),
                };
                if let Some(r) = r {
                    out.push(Move {
                        worker: w,
                        source,
                        task: self.sim_id(r),
                    });
                }
                continue;
            }
            if let Some(r) = self.injector.front() {
                out.push(Move {
                    worker: w,
                    source: Source::Injector,
                    task: self.sim_id(r),
                });
            }
            for (v, victim) in self.workers.iter().enumerate() {
                if v == w {
                    continue;
                }
                if let Some(r) = victim.local.front() {
                    out.push(Move {
                        worker: w,
                        source: Source::Steal(v),
                        task: self.sim_id(r),
                    });
                } else if let Some(r) = &victim.lifo {
                    out.push(Move {
                        worker: w,
                        source: Source::StealLifo(v),
                        task: self.sim_id(r),
                    });
                }
            }
        }
    }

    /// Makes move `m`: a take puts the task in its worker's hands (`None`
    /// is returned); a poll returns the task to poll and marks its worker as
    /// running.
    pub(crate) fn take(&mut self, m: Move) -> Option<Runnable> {
        let w = m.worker;
        if m.source == Source::Current {
            self.workers[w].polls = self.workers[w].polls.wrapping_add(1);
            self.running_on = Some(w);
            return self.workers[w].current.take();
        }
        let r = match m.source {
            Source::Current => None,
            Source::Lifo => {
                self.workers[w].lifo_polls += 1;
                self.workers[w].lifo.take()
            }
            Source::Local => {
                self.workers[w].lifo_polls = 0;
                self.workers[w].local.pop_front()
            }
            Source::Injector => self.injector.pop_front(),
            Source::Steal(v) => {
                let n = self.workers[v].local.len().div_ceil(2);
                let mut stolen: VecDeque<Runnable> = self.workers[v].local.drain(..n).collect();
                let first = stolen.pop_front();
                self.workers[w].local.extend(stolen);
                first
            }
            Source::StealLifo(v) => self.workers[v].lifo.take(),
            Source::Home => self.workers[w].home.pop_front(),
        };
        self.workers[w].current = r;
        None
    }

    pub(crate) fn poll_done(&mut self) {
        self.running_on = None;
    }

    /// Unfinished tasks (at most `limit` described), for a deadlock report.
    pub(crate) fn blocked(&self, limit: usize) -> (usize, Vec<String>) {
        let unfinished: Vec<_> = self.live.iter().filter(|(_, t)| !t.is_finished()).collect();
        let described = unfinished
            .iter()
            .take(limit)
            .map(|(id, t)| format!("sim task {id} {}", describe(t.meta())))
            .collect();
        (unfinished.len(), described)
    }

    /// Metadata of every unfinished task.
    pub(crate) fn live_tasks(&self) -> Vec<crate::TaskSnapshot> {
        self.live
            .iter()
            .filter(|(_, t)| !t.is_finished())
            .map(|(_, t)| crate::TaskSnapshot::read(t, &[]))
            .collect()
    }

    /// Takes everything for shutdown: the queued runnables and the task list.
    pub(crate) fn drain(&mut self) -> (Vec<Runnable>, Vec<TaskRef>) {
        let mut runnables: Vec<Runnable> = self.injector.drain(..).collect();
        for w in &mut self.workers {
            runnables.extend(w.current.take());
            runnables.extend(w.lifo.take());
            runnables.extend(w.local.drain(..));
            runnables.extend(w.home.drain(..));
        }
        let tasks = self.live.drain(..).map(|(_, t)| t).collect();
        (runnables, tasks)
    }
}

/// The schedule function of every simulated task.
#[derive(Clone)]
pub(crate) struct SimSchedule(pub(crate) Arc<Shared>);

impl Schedule for SimSchedule {
    fn schedule(&self, runnable: Runnable, info: ScheduleInfo) {
        self.0.schedule(runnable, info, None);
    }

    fn unhandled_panic(&self, task: &TaskMeta, payload: Box<dyn std::any::Any + Send>) {
        self.0.unhandled_panic(task, &*payload);
    }
}

/// The schedule function of a local task: pinned to the simulated worker
/// `home` (the one whose poll spawned it).
#[derive(Clone)]
pub(crate) struct SimLocalSchedule {
    pub(crate) shared: Arc<Shared>,
    pub(crate) home: usize,
}

impl Schedule for SimLocalSchedule {
    fn schedule(&self, runnable: Runnable, info: ScheduleInfo) {
        self.shared.schedule(runnable, info, Some(self.home));
    }

    fn unhandled_panic(&self, task: &TaskMeta, payload: Box<dyn std::any::Any + Send>) {
        self.shared.unhandled_panic(task, &*payload);
    }
}
