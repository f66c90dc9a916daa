//! corio-scheduler: corio's multi-threaded work-stealing executor.
//!
//! It runs any `Future + Send + 'static` (tasks are built by [`corio_core`], so futures
//! from any crate work) on N worker threads:
//!
//! - each worker owns a FIFO queue (`crossbeam_deque::Worker`) and a one-task **LIFO
//!   slot**: a task woken by the running task runs next, on the same core, while the
//!   data it was sent is still in cache (message passing); a guard lets at most 3 slot
//!   tasks run in a row, and the slot is stealable by idle workers, so a task parked in
//!   the slot of a worker stuck in a long poll does not wait for it; a task woken by
//!   the finish of a child it awaits goes to the back of the queue instead, so a task
//!   awaiting many children resumes once for those already done, not after each one;
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
// Under loom no stall monitor thread is started (the models drive its hook steps):
// its loop and what only it uses are dead code there.
#![cfg_attr(loom, allow(dead_code))]

mod builder;
mod context;
mod executor;
mod idle;
mod lifo;
mod local;
mod metrics;
mod owned;
mod park;
#[cfg(all(not(loom), target_os = "linux"))]
mod parker;
mod shared;
mod stall;
mod stall_time;
mod sync;
mod thread_stats;
mod worker;

pub use builder::Builder;
pub use executor::{Executor, Handle};
pub use local::{spawn_local, try_spawn_local_with};
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

    impl std::fmt::Debug for Idle {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Idle").finish_non_exhaustive()
        }
    }

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

    /// The stall monitor of an executor built with a park hook and a stall threshold,
    /// for the model to drive (under loom the builder starts no monitor thread). Its own
    /// parker is not modelled: only the steps that touch the park hook.
    pub struct Monitor(crate::stall::Monitor);

    impl std::fmt::Debug for Monitor {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Monitor").finish_non_exhaustive()
        }
    }

    impl Monitor {
        /// The monitor of `handle`'s executor.
        ///
        /// # Panics
        /// If the executor was built without a stall threshold.
        pub fn new(handle: &crate::Handle) -> Monitor {
            let monitor =
                crate::stall::Monitor::new(handle.shared.clone(), crate::sync::Parker::new());
            Monitor(monitor.expect("build the executor with stall_threshold(Some(_))"))
        }
        /// Protocol step 5 once, as the monitor does while a worker is stalled: wake a
        /// parked worker to take the hook, or wait in the hook itself (one tick).
        /// Returns `true` if it waited in the hook.
        pub fn drive_reactor(&self) -> bool {
            self.0.drive_reactor()
        }
        /// Has shutdown begun (the monitor's loop ends)?
        pub fn shutting_down(&self) -> bool {
            self.0.shutting_down()
        }
    }

    /// The owned-task list (see the `owned` module docs), with tasks built by corio-core
    /// around a future wrapper that removes the task's entry when the future is dropped,
    /// as the executor's own wrapper does.
    pub struct OwnedTasks(std::sync::Arc<crate::owned::OwnedTasks>);

    impl std::fmt::Debug for OwnedTasks {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("OwnedTasks").finish_non_exhaustive()
        }
    }

    impl OwnedTasks {
        /// A list sized for `workers` threads.
        pub fn new(workers: usize) -> OwnedTasks {
            OwnedTasks(std::sync::Arc::new(crate::owned::OwnedTasks::new(workers)))
        }
        /// Spawns `future` with `schedule` and lists it; `None` for the `Runnable`
        /// when the list was closed (the task is then cancelled already).
        pub fn spawn<F, S>(
            &self,
            future: F,
            schedule: S,
        ) -> (Option<corio_core::Runnable>, corio_core::Task<F::Output>)
        where
            F: std::future::Future + Send + 'static,
            F::Output: Send + 'static,
            S: corio_core::Schedule + Send + Sync + 'static,
        {
            let list = self.0.clone();
            self.0.bind(move |key| {
                let future = Listed {
                    future: Box::pin(future),
                    key,
                    list,
                };
                corio_core::Builder::new().spawn_listed(future, schedule)
            })
        }
        /// Closes the list and cancels every task in it.
        pub fn close_and_cancel_all(&self) -> usize {
            self.0.close_and_cancel_all()
        }
        /// Tasks listed now.
        pub fn len(&self) -> usize {
            self.0.len()
        }
        /// The id of every listed task, read by the chunked walk a task dump uses.
        pub fn ids(&self) -> Vec<corio_core::TaskId> {
            self.0.map(|t| t.id())
        }
        /// Whether no task is listed.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    struct Listed<F: std::future::Future> {
        future: std::pin::Pin<Box<F>>,
        key: crate::owned::Key,
        list: std::sync::Arc<crate::owned::OwnedTasks>,
    }

    impl<F: std::future::Future> std::future::Future for Listed<F> {
        type Output = F::Output;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<F::Output> {
            self.future.as_mut().poll(cx)
        }
    }

    impl<F: std::future::Future> Drop for Listed<F> {
        fn drop(&mut self) {
            self.list.remove(self.key);
        }
    }
}
