//! corio-scheduler: corio's multi-threaded work-stealing executor.
//!
//! It runs any `Future + Send + 'static` (tasks are built by [`corio_core`], so futures
//! from any crate work) on N worker threads:
//!
//! - each worker owns a FIFO queue (`crossbeam_deque::Worker`) and a one-task **LIFO
//!   slot**: a task woken by the running task runs next, on the same core, while the
//!   data it was sent is still in cache (message passing); a guard lets at most 3 slot
//!   tasks run in a row, and the slot is stealable by idle workers, so a task parked in
//!   the slot of a worker stuck in a long poll does not wait for it;
//! - tasks spawned or woken from outside go to a shared **injector**, which every
//!   worker checks every 61 ticks even when its own queue is busy (fairness);
//! - an idle worker **steals** a batch from a random victim or the injector; at most
//!   about half the workers search at once; a searcher spins ~20 µs before it **parks**,
//!   because waking a parked thread costs ~13 µs (the protocol is in the `idle` module's
//!   docs and model-checked with loom);
//! - one parked worker at a time may wait in a [`Park`] hook (the reactor, wired by the
//!   facade) instead of its own parker;
//! - [`Executor::block_on`] drives a future on the calling thread; the
//!   [current-thread flavor](Builder::current_thread) runs everything there.
//!
//! Panics inside tasks are caught by corio-core: they resolve the task's [`Task`] as
//! `Err(Panicked)` and never kill a worker; a panic nobody retrieves goes to the
//! [`Builder::unhandled_panic`] callback.
//!
//! # Example
//!
//! ```
//! use corio_scheduler::Builder;
//!
//! let ex = Builder::new().worker_threads(2).build()?;
//! let answer = ex.block_on(async {
//!     let a = corio_scheduler::Handle::try_current().unwrap().spawn(async { 40 });
//!     a.await.unwrap() + 2
//! });
//! assert_eq!(answer, 42);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! [`Task`]: corio_core::Task

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod builder;
mod context;
mod executor;
mod idle;
mod lifo;
mod metrics;
mod park;
mod shared;
mod stall;
mod sync;
mod worker;

pub use builder::Builder;
pub use executor::{Executor, Handle};
pub use metrics::Metrics;
pub use park::Park;
pub use stall::StallReport;

/// Re-exported for convenience: the handle a spawn returns.
pub use corio_core::{Task, TaskError};

/// Internal protocol types exposed to `tests/loom.rs` only (built with `--cfg loom`).
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_model {
    /// The idle protocol state (see the `idle` module docs).
    pub struct Idle(crate::idle::Idle);

    impl Idle {
        /// `num_workers` workers, all unparked, none searching.
        pub fn new(num_workers: usize) -> Idle {
            Idle(crate::idle::Idle::new(num_workers))
        }
        /// Rule 1.
        pub fn worker_to_notify(&self) -> Option<usize> {
            self.0.worker_to_notify()
        }
        /// Rule 2.
        pub fn transition_worker_to_searching(&self) -> bool {
            self.0.transition_worker_to_searching()
        }
        /// Rule 3.
        pub fn transition_worker_from_searching(&self) -> bool {
            self.0.transition_worker_from_searching()
        }
        /// Rule 4.
        pub fn transition_worker_to_parked(&self, worker: usize, searching: bool) -> bool {
            self.0.transition_worker_to_parked(worker, searching)
        }
        /// Rule 5.
        pub fn unpark_worker_by_id(&self, worker: usize) -> bool {
            self.0.unpark_worker_by_id(worker)
        }
        /// Is `worker` in the sleepers list?
        pub fn is_parked(&self, worker: usize) -> bool {
            self.0.is_parked(worker)
        }
        /// Workers searching now.
        pub fn num_searching(&self) -> usize {
            self.0.num_searching()
        }
    }
}
