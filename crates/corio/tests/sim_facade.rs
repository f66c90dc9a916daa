//! The facade's own test files, compiled again and run under `corio::sim`:
//! their `common::run(secs, async { ... })` bodies run in a simulation
//! (virtual time, simulated workers, seed `CORIO_SIM_SEED`, default 0)
//! instead of on a runtime (see `common::run`, which looks at its module
//! path). The files are the same source as their own test binaries: a test
//! that needs the real runtime says so by calling `common::run_real`, with
//! the reason at the call.
//!
//! Run here: task_group, task_group_scope, cancel_sync, timeouts (all but
//! the four whose deadlines come from `Instant::now()`), cancel (all but
//! four: real clock, real socket, a to_thread closure waiting for another
//! thread), combinators (all but two that measure concurrency on the real
//! clock), time (all but four that measure the real clock), tasks (all but
//! one real socket read).
//!
//! Not run here, and why:
//! - cancel_scopes: one helper (`in_task`) runs every test and three
//!   measure grace periods with `Instant::now()`;
//! - executor: three of four tests check that blocking work runs on another
//!   thread (in a simulation it runs inline);
//! - sync_*, queue_*: the primitives are tested on plain threads and
//!   `futures::executor::block_on`, not on corio's scheduler (the
//!   simulation's own tests and tests/sim_bugs.rs use them on it);
//! - runtime, shutdown, stalls, debug, inspect, callbacks, local_tasks:
//!   they test the runtime's threads, handles and shutdown themselves;
//! - streams_*, hyper, tokio_compat, process_*, signal_basic: real I/O,
//!   processes or signals (refused in a simulation, reported as leaks);
//! - context_vars, errors, sync_owned, task_tree: they call `corio::run`
//!   directly or poll the real clock for a state.

// Each file declares its own `mod common;`: compiled once per file, as in its
// own test binary.
#![allow(clippy::duplicate_mod)]

#[path = "cancel.rs"]
mod cancel;
#[path = "cancel_sync.rs"]
mod cancel_sync;
#[path = "combinators.rs"]
mod combinators;
#[path = "task_group.rs"]
mod task_group;
#[path = "task_group_scope.rs"]
mod task_group_scope;
#[path = "tasks.rs"]
mod tasks;
#[path = "time.rs"]
mod time;
#[path = "timeouts.rs"]
mod timeouts;
