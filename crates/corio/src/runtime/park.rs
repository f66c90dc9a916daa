//! The reactor as the scheduler's park hook.
//!
//! corio-scheduler lets one idle worker at a time block in a [`Park`] hook instead
//! of its own parker; here that hook is the process-wide corio-reactor, so the
//! same thread that waits for work also waits for I/O readiness and the next
//! timer deadline. No extra reactor thread.
//!
//! The reactor is one per process, and only one thread drives it at a time, so a
//! hook thread can find it driven by another (`try_drive` returns `None`). Most
//! often that is this runtime's other worker polling it in passing between tasks
//! (`poll_ready`, microseconds): the hook thread spins for [`DRIVER_SPIN`] and
//! drives as soon as the lock is free. A sleep would cost more than the wait, and
//! the thread holds the hook while it sleeps, so nobody else of this runtime
//! drives I/O or timers meanwhile (on a loaded 2-core machine, where a wake-up
//! waits for a time slice, that was 120-190 ms of a 3-second echo run). When
//! the spin does not get the reactor (another runtime or a plain `block_on` drives
//! it, or the holder lost its core), the hook thread sleeps until the driver leaves
//! (the reactor wakes the threads waiting for it), an `unpark`, or [`RETRY`].
//!
//! Protocol (the `mode` / `notified` pair is a Dekker handshake, both sides
//! `SeqCst`):
//! 1. `unpark` stores `notified = true`, then reads `mode`: `DRIVING` -> wake the
//!    reactor (`notify`, sticky), `WAITING` -> unpark the thread recorded in
//!    `waiter` (thread tokens are sticky too).
//! 2. `park` stores its `mode` (for `WAITING`, after recording itself in `waiter`),
//!    then reads `notified` before blocking; so either `park` sees the notification
//!    or `unpark` sees the mode and wakes it.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::SeqCst};
use std::sync::Mutex;
use std::thread::{self, Thread};
use std::time::Duration;

use corio_core::spin::spin_until;
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

/// How long a hook thread that found the reactor driven polls for the lock before
/// it sleeps: a sibling's `poll_ready` (an `epoll_wait` that does not wait, then
/// the wake-ups of what it found) leaves well within it.
const DRIVER_SPIN: Duration = Duration::from_micros(20);

pub(crate) struct ReactorPark {
    mode: AtomicU8,
    notified: AtomicBool,
    /// The thread in `WAITING` mode, for `unpark` (only the hook's holder parks
    /// here, one thread at a time).
    waiter: Mutex<Option<Thread>>,
}

impl ReactorPark {
    pub(crate) fn new() -> Self {
        ReactorPark {
            mode: AtomicU8::new(IDLE),
            notified: AtomicBool::new(false),
            waiter: Mutex::new(None),
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
        let reactor = Reactor::get();
        // An `unpark` that saw `DRIVING` notified the reactor, which wakes whoever
        // drives it: if another runtime's thread was driving, it took the
        // notification, so the flag is checked again under the driver lock.
        let woken = || self.notified.load(SeqCst);
        let mut driven = reactor.try_drive_unless(timeout, woken).is_some();
        if !driven {
            spin_until(DRIVER_SPIN, || {
                driven = reactor.try_drive_unless(timeout, woken).is_some();
                driven || self.notified.load(SeqCst)
            });
        }
        self.mode.store(IDLE, SeqCst);
        if driven || self.notified.load(SeqCst) {
            // An I/O error from the poller is not ours to handle here: the
            // worker re-checks its queues and parks again.
            return true;
        }
        let wait = timeout.map_or(RETRY, |t| t.min(RETRY));
        *lock(&self.waiter) = Some(thread::current());
        self.mode.store(WAITING, SeqCst);
        if !self.notified.load(SeqCst) {
            reactor.park_until_driver_free(wait);
        }
        self.mode.store(IDLE, SeqCst);
        true
    }

    fn unpark(&self) {
        self.notified.store(true, SeqCst);
        match self.mode.load(SeqCst) {
            DRIVING => Reactor::get().notify(),
            WAITING => {
                // Unpark with the lock released: the woken thread may take this
                // one's CPU at once, and `park` takes the lock next.
                let waiter = lock(&self.waiter).clone();
                if let Some(waiter) = waiter {
                    waiter.unpark();
                }
            }
            _ => {}
        }
    }

    fn poll_ready(&self) {
        let _ = Reactor::get().try_drive(Some(Duration::ZERO));
    }

    fn poll_beside(&self) {
        let _ = Reactor::get().poll_beside();
    }
}

/// A poisoned lock only means a panic elsewhere; the `Option<Thread>` is still whole.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
