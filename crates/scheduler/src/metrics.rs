//! [`Metrics`]: cheap counters about an executor.
//!
//! Each worker writes its own counters with relaxed stores (no locked instruction, no
//! shared cache line), and a `Metrics` read sums them: values are exact once the
//! executor is quiet and approximate (but never torn) while it runs.

use std::fmt;
use std::time::Duration;

use crate::shared::Shared;
use crate::sync::{Arc, Ordering::Relaxed};

/// Counters about one executor; see [`Executor::metrics`](crate::Executor::metrics).
///
/// # Example
///
/// ```
/// let ex = corio_scheduler::Builder::new().worker_threads(2).build()?;
/// let m = ex.metrics();
/// assert_eq!(m.workers(), 2);
/// ex.block_on(ex.spawn(async {})).unwrap();
/// assert!(m.polls() >= 1);
/// assert_eq!(m.alive_tasks(), 0);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("workers", &self.workers())
            .field("alive_tasks", &self.alive_tasks())
            .field("injector_depth", &self.injector_depth())
            .field("steals", &self.steals())
            .field("parks", &self.parks())
            .field("polls", &self.polls())
            .finish()
    }
}

impl Metrics {
    pub(crate) fn new(shared: Arc<Shared>) -> Metrics {
        Metrics { shared }
    }

    /// Number of workers (1 for the current-thread flavor).
    pub fn workers(&self) -> usize {
        self.shared.num_workers
    }

    /// Tasks spawned whose future has not been dropped yet (not yet completed or cancelled).
    pub fn alive_tasks(&self) -> usize {
        self.shared.alive_tasks()
    }

    /// Tasks waiting in the global injector queue.
    pub fn injector_depth(&self) -> usize {
        self.shared.injector.len()
    }

    /// Tasks waiting in `worker`'s local queue and LIFO slot.
    ///
    /// # Panics
    ///
    /// If `worker >= self.workers()`.
    pub fn local_depth(&self, worker: usize) -> usize {
        let remote = &self.shared.remotes[worker];
        remote.stealer.len() + usize::from(!remote.lifo.is_empty())
    }

    /// Successful steals (batches taken from another worker's queue or LIFO slot).
    pub fn steals(&self) -> u64 {
        self.shared
            .remotes
            .iter()
            .map(|r| r.steals.load(Relaxed))
            .sum()
    }

    /// Times a worker went to sleep.
    pub fn parks(&self) -> u64 {
        self.shared
            .remotes
            .iter()
            .map(|r| r.parks.load(Relaxed))
            .sum()
    }

    /// Task polls (each `Runnable::run`).
    pub fn polls(&self) -> u64 {
        self.shared
            .remotes
            .iter()
            .map(|r| r.polls.load(Relaxed))
            .sum()
    }

    /// Time `worker` spent awake (running or searching), updated each time it parks.
    ///
    /// # Panics
    ///
    /// If `worker >= self.workers()`.
    pub fn busy_time(&self, worker: usize) -> Duration {
        Duration::from_nanos(self.shared.remotes[worker].busy_ns.load(Relaxed))
    }
}
