//! Helpers shared by the integration tests: every wait has a deadline, so a hang
//! fails the test instead of blocking CI.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use corio_blocking::{BlockingError, BlockingTask};

/// Generous bound for anything that should take milliseconds, on a loaded 2-core box.
pub(crate) const LONG: Duration = Duration::from_secs(20);

/// Waits for `task` at most `limit`; panics (fails the test) on timeout.
pub(crate) fn wait_timeout<T>(task: BlockingTask<T>, limit: Duration) -> Result<T, BlockingError> {
    let deadline = Instant::now() + limit;
    while !task.is_finished() {
        assert!(
            Instant::now() < deadline,
            "task did not finish within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    task.wait()
}

/// Polls `cond` until it holds, at most `limit`; panics with `what` on timeout.
pub(crate) fn eventually(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A gate closures block on until the test opens it (with a deadline, so a test
/// bug cannot leave pool threads blocked forever).
#[derive(Clone)]
pub(crate) struct Gate(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate(Default::default())
    }

    pub(crate) fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    /// Blocks until opened; panics after `LONG`.
    pub(crate) fn pass(&self) {
        let guard = self.0 .0.lock().unwrap();
        let (guard, res) = self
            .0
             .1
            .wait_timeout_while(guard, LONG, |open| !*open)
            .unwrap();
        assert!(*guard && !res.timed_out(), "gate never opened");
    }
}
