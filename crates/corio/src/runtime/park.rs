//! The reactor as the scheduler's park hook.
//!
//! corio-scheduler lets one idle worker at a time block in a [`Park`] hook instead
//! of its own parker; here that hook is the process-wide corio-reactor, so the
//! same thread that waits for work also waits for I/O readiness and the next
//! timer deadline. No extra reactor thread.
//!
//! The reactor is one per process, but several runtimes can live at once (tests
//! do that). Only one thread drives the reactor at a time, so a runtime's hook
//! thread can find it busy (`try_drive` returns `None`): it then waits on its own
//! condition variable, re-trying the reactor every [`RETRY`], so that when the
//! other runtime goes away its timers and I/O are driven again within `RETRY`.
//!
//! Protocol (the `mode` / `notified` pair is a Dekker handshake, both sides
//! `SeqCst`):
//! 1. `unpark` stores `notified = true`, then reads `mode`: `DRIVING` -> wake the
//!    reactor (`notify`, sticky), `WAITING` -> signal the condvar under its mutex.
//! 2. `park` stores its `mode`, then reads `notified` before blocking; so either
//!    `park` sees the notification or `unpark` sees the mode and wakes it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::SeqCst};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use corio_reactor::Reactor;
use corio_scheduler::Park;

const IDLE: u8 = 0;
const DRIVING: u8 = 1;
const WAITING: u8 = 2;

/// How often a hook thread that found the reactor driven by another runtime
/// retries: 10 ms bounds the hand-over latency when that runtime shuts down,
/// while costing at most 100 wake-ups a second on an idle runtime in that
/// (rare, mostly test-suite) situation.
const RETRY: Duration = Duration::from_millis(10);

pub(crate) struct ReactorPark {
    mode: AtomicU8,
    notified: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl ReactorPark {
    pub(crate) fn new() -> Self {
        ReactorPark {
            mode: AtomicU8::new(IDLE),
            notified: AtomicBool::new(false),
            lock: Mutex::new(()),
            cv: Condvar::new(),
        }
    }
}

impl Park for ReactorPark {
    fn park(&self, timeout: Option<Duration>) -> bool {
        if self.notified.swap(false, SeqCst) {
            return true;
        }
        self.mode.store(DRIVING, SeqCst);
        if self.notified.load(SeqCst) {
            self.mode.store(IDLE, SeqCst);
            return true;
        }
        let driven = Reactor::get().try_drive(timeout);
        self.mode.store(IDLE, SeqCst);
        if driven.is_some() {
            // An I/O error from the poller is not ours to handle here: the
            // worker re-checks its queues and parks again.
            return true;
        }
        // Another thread (another runtime's worker, or a plain block_on) drives
        // the reactor: wait here, bounded, and retry later.
        let wait = timeout.map_or(RETRY, |t| t.min(RETRY));
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.mode.store(WAITING, SeqCst);
        if !self.notified.load(SeqCst) {
            let _unused = self.cv.wait_timeout(guard, wait);
        }
        self.mode.store(IDLE, SeqCst);
        true
    }

    fn unpark(&self) {
        self.notified.store(true, SeqCst);
        match self.mode.load(SeqCst) {
            DRIVING => Reactor::get().notify(),
            WAITING => {
                let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
                self.cv.notify_one();
            }
            _ => {}
        }
    }

    fn poll_ready(&self) {
        let _ = Reactor::get().try_drive(Some(Duration::ZERO));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn an_unpark_before_park_is_not_lost() {
        let p = ReactorPark::new();
        p.unpark();
        let start = Instant::now();
        assert!(p.park(Some(Duration::from_secs(10))));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn unpark_from_another_thread_wakes_the_parked_one() {
        // Whether this thread drives the reactor or finds it driven (by the
        // reactor's fallback thread) and waits on the condvar, unpark wakes it.
        let p = Arc::new(ReactorPark::new());
        let q = p.clone();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            q.unpark();
        });
        let start = Instant::now();
        // Spurious returns are allowed: park again until the unpark lands.
        while start.elapsed() < Duration::from_millis(15) {
            p.park(Some(Duration::from_secs(10)));
        }
        p.park(Some(Duration::from_secs(10)));
        assert!(start.elapsed() < Duration::from_secs(5));
        waker.join().unwrap();
    }

    #[test]
    fn park_honours_its_timeout() {
        let p = ReactorPark::new();
        let start = Instant::now();
        assert!(p.park(Some(Duration::from_millis(10))));
        assert!(start.elapsed() < Duration::from_secs(5));
        p.poll_ready(); // never blocks
    }
}
