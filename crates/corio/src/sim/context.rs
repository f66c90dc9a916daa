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
use super::sched::{Shared, SimSchedule};
use crate::cancel::{CancelState, Coop};
use crate::task::{Plain, Task};

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

/// `create_task` & co. inside a simulation: the task goes to the simulated
/// workers, with the spawner's context variables, as on a runtime.
pub(crate) fn spawn<F>(
    fut: F,
    name: Option<Cow<'static, str>>,
    grace: Option<Duration>,
    location: &'static Location<'static>,
) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let schedule = SimSchedule(current().shared);
    let mut b = corio_core::Builder::new()
        .location(location)
        .context(corio_core::Context::current());
    if let Some(name) = name {
        b = b.name(name);
    }
    let (runnable, task, coop) = match grace {
        None => {
            let (r, t) = b.spawn(Plain { fut }, schedule);
            (r, t, None)
        }
        Some(grace) => {
            let state = CancelState::new(grace);
            let (r, t) = b.spawn(Coop::new(fut, state.clone()), schedule);
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
