//! The simulation running on this thread, as the facade's entry points see it:
//! `create_task`, `to_thread` / `run_in_executor` and `Runtime::build` ask
//! [`is_active`] (one thread-local read of a `bool`) and, inside a
//! simulation, come here instead of going to a runtime.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use corio_reactor::timer::Sleep;

use super::net::Network;
use super::sched::{Shared, SimLocalSchedule, SimSchedule};
use crate::cancel::{CancelState, Coop};
use crate::task::{Plain, Task};
use corio_core::Runnable;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// What a running simulation shares with the code it runs.
#[derive(Clone)]
pub(crate) struct Current {
    pub(crate) shared: Arc<Shared>,
    pub(crate) blocking_cost: Duration,
    pub(crate) net: Arc<Network>,
}

/// True while a simulation runs on this thread.
#[inline]
pub(crate) fn is_active() -> bool {
    ACTIVE.with(Cell::get)
}

/// Installs `current` until the guard drops.
pub(crate) fn enter(current: Current) -> Entered {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(current));
    let was_active = ACTIVE.with(|a| a.replace(true));
    Entered { prev, was_active }
}

pub(crate) struct Entered {
    prev: Option<Current>,
    was_active: bool,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
        ACTIVE.with(|a| a.set(self.was_active));
    }
}

/// The running simulation.
///
/// # Panics
/// Outside one (callers check [`is_active`] first).
pub(crate) fn current() -> Current {
    CURRENT.with(|c| c.borrow().clone()).unwrap_or_else(|| {
        panic!("corio::sim: no simulation runs on this thread (call this inside Config::run or sim::check)")
    })
}

/// The running simulation's scheduler state, for its `Handle`.
///
/// # Panics
/// Outside one (callers check [`is_active`] first).
pub(crate) fn current_shared() -> Arc<Shared> {
    current().shared
}

/// Records that a real runtime's `Handle` spawned a task during the
/// simulation on this thread (its workers are OS threads).
pub(crate) fn real_runtime_used() {
    current().shared.record_leak(
        "a task was spawned on a real corio Runtime (through a Handle kept from outside the \
         simulation) inside a simulation: its workers are OS threads, which the simulation \
         cannot schedule. Spawn with corio::create_task, or with Handle::current() taken \
         inside the simulation"
            .to_owned(),
    );
}

/// `create_task` & co. inside the simulation `shared`: the task goes to the
/// simulated workers, with the spawner's context variables, as on a runtime.
/// A simulation's `Handle` spawns from any thread; from another one, the
/// wake-up is reported as a leak.
pub(crate) fn spawn_on<F>(
    shared: &Arc<Shared>,
    fut: F,
    name: Option<Cow<'static, str>>,
    grace: Option<Duration>,
    location: &'static Location<'static>,
) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_with(fut, name, grace, location, SimSchedule(shared.clone()))
}

/// `create_local_task` inside a simulation: the task is pinned to the
/// simulated worker running the spawner (see `sched.rs`).
pub(crate) fn spawn_local<F>(
    fut: F,
    name: Option<Cow<'static, str>>,
    grace: Option<Duration>,
    location: &'static Location<'static>,
) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let shared = current().shared;
    let home = shared.running_worker();
    spawn_with(
        fut,
        name,
        grace,
        location,
        SimLocalSchedule { shared, home },
    )
}

/// Where a simulated task runs: on any worker ([`SimSchedule`], the future
/// must be `Send`) or pinned to one ([`SimLocalSchedule`]).
trait Place<F: Future> {
    fn spawn(self, b: corio_core::Builder, fut: F) -> (Runnable, corio_core::Task<F::Output>);
}

impl<F> Place<F> for SimSchedule
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn spawn(self, b: corio_core::Builder, fut: F) -> (Runnable, corio_core::Task<F::Output>) {
        b.spawn(fut, self)
    }
}

impl<F> Place<F> for SimLocalSchedule
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn spawn(self, b: corio_core::Builder, fut: F) -> (Runnable, corio_core::Task<F::Output>) {
        b.spawn_local(fut, self)
    }
}

/// The part of every simulated spawn that does not depend on where the task
/// runs: context variables, metadata, cooperative cancellation, the first
/// schedule.
fn spawn_with<F, P>(
    fut: F,
    name: Option<Cow<'static, str>>,
    grace: Option<Duration>,
    location: &'static Location<'static>,
    place: P,
) -> Task<F::Output>
where
    F: Future,
    P: Place<Plain<F>> + Place<Coop<F>>,
{
    let mut b = corio_core::Builder::new()
        .location(location)
        .context(corio_core::Context::current());
    if let Some(parent) = corio_core::current_id() {
        b = b.parent(parent);
    }
    if let Some(name) = name {
        b = b.name(name);
    }
    let (runnable, task, coop) = match grace {
        None => {
            let (r, t) = place.spawn(b, Plain { fut });
            (r, t, None)
        }
        Some(grace) => {
            let state = CancelState::new(grace);
            let (r, t) = place.spawn(b, Coop::new(fut, state.clone()));
            (r, t, Some(state))
        }
    };
    runnable.schedule();
    Task::from_core(task, coop)
}

/// The virtual time a `run_in_executor` job takes inside the running
/// simulation (the job itself runs inline, where it is called), as a timer.
pub(crate) fn blocking_cost() -> Option<Sleep> {
    let cost = current().blocking_cost;
    (!cost.is_zero()).then(|| corio_reactor::timer::sleep(cost))
}

/// Records that corio was asked for an OS thread inside a simulation, and
/// returns the error to give back.
pub(crate) fn refuse_threads(what: &str) -> std::io::Error {
    let msg = format!(
        "corio::sim: {what} inside a simulation would start OS threads, whose timing the \
         simulation cannot control; spawn with corio::create_task instead (tasks run on the \
         simulated workers), or build the runtime outside the simulation"
    );
    current().shared.record_leak(msg.clone());
    std::io::Error::other(msg)
}
