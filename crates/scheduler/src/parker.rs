//! The idle worker's parker: a sticky one-token parker whose `unpark` never blocks.
//!
//! A worker that wakes a sibling does so from inside a task's poll (a wake pushes work,
//! then `notify_parked_local` unparks an idle sibling). A `Mutex` + `Condvar` parker
//! (crossbeam-utils', tokio's) takes the mutex in `unpark` when the sibling is parked, and
//! the parking thread holds that mutex between publishing "parked" and blocking in the
//! condvar. If the parking thread is preempted in that window, which is likely on an
//! oversubscribed CPU, the waking worker blocks for the rest of a time slice (milliseconds)
//! in the middle of a poll. Here `unpark` is an atomic swap plus, only when the other
//! thread is asleep, one `FUTEX_WAKE`: it never waits for the parking thread.
//!
//! The protocol is std's futex parker (`library/std/src/sys/sync/thread_parking/futex.rs`):
//! a state word EMPTY / NOTIFIED / PARKED; `park` moves NOTIFIED to EMPTY and returns, or
//! EMPTY to PARKED and sleeps in `FUTEX_WAIT` while the word is PARKED; `unpark` swaps in
//! NOTIFIED and calls `FUTEX_WAKE` only if it replaced PARKED. std's own `thread::park` is
//! not used because its token belongs to the thread: a task that calls `thread::park` on a
//! worker (blocking code does) would consume the scheduler's wake-up.
//!
//! Off Linux this is crossbeam-utils' parker; under loom, the stand-in in `sync`.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

const EMPTY: u32 = 0;
const NOTIFIED: u32 = 1;
const PARKED: u32 = u32::MAX;

/// Blocks the thread that owns it until its [`Unparker`] is called (one sticky token).
pub(crate) struct Parker {
    unparker: Unparker,
    /// Only the owning thread parks (the protocol allows one waiter): `Send`, not `Sync`.
    _not_sync: PhantomData<Cell<()>>,
}

/// Wakes the matching [`Parker`], from any thread, without blocking.
#[derive(Clone)]
pub(crate) struct Unparker {
    /// Padded: written by its worker at every park and by others at every wake-up, so
    /// it must not share a cache line with another worker's word or hot data.
    state: Arc<CachePadded<AtomicU32>>,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            unparker: Unparker {
                state: Arc::new(CachePadded::new(AtomicU32::new(EMPTY))),
            },
            _not_sync: PhantomData,
        }
    }

    /// Blocks until the token is available, then consumes it.
    pub(crate) fn park(&self) {
        self.park_until(None);
    }

    /// Blocks until the token is available (and consumes it) or `timeout` has passed.
    pub(crate) fn park_timeout(&self, timeout: Duration) {
        self.park_until(Instant::now().checked_add(timeout));
    }

    /// Both parks: `None` waits without limit.
    fn park_until(&self, deadline: Option<Instant>) {
        let state = &*self.unparker.state;
        // NOTIFIED -> EMPTY (token consumed, return) or EMPTY -> PARKED (sleep).
        if state.fetch_sub(1, Acquire) == NOTIFIED {
            return;
        }
        loop {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                break;
            }
            futex_wait(state, PARKED, left);
            // A spurious wake-up (or EINTR) leaves the word PARKED: sleep again.
            if state.load(Acquire) == NOTIFIED {
                break;
            }
        }
        // Notified or timed out: either way the word goes back to EMPTY (consuming a
        // token that arrived in between, as a notified return would).
        state.swap(EMPTY, Acquire);
    }

    pub(crate) fn unparker(&self) -> &Unparker {
        &self.unparker
    }
}

impl Unparker {
    /// Makes the token available; wakes the parker if it is asleep.
    pub(crate) fn unpark(&self) {
        if self.state.swap(NOTIFIED, Release) == PARKED {
            futex_wake_one(&self.state);
        }
    }
}

/// Sleeps while `*futex == expected`, at most `timeout` (none: no limit). Returns on a
/// wake-up, a timeout, a signal, or at once if the word already differs.
fn futex_wait(futex: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let timespec = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 1e9: fits every platform's c_long.
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let timespec_ptr = timespec
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // Errors (EAGAIN: the word changed; EINTR; ETIMEDOUT) are spurious returns the
    // callers loop on, so the result is not looked at.
    // The call reads only the borrowed, aligned `AtomicU32` and the timeout (a
    // `timespec` on this stack, or null); it writes no memory.
    // SAFETY: both pointers are valid for the call's duration.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            futex.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            timespec_ptr,
        );
    }
}

/// Wakes one thread sleeping in [`futex_wait`] on `futex`.
fn futex_wake_one(futex: &AtomicU32) {
    // SAFETY: FUTEX_WAKE uses the live word's address only as a key (no memory access).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            futex.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn a_token_given_before_park_makes_park_return_and_is_consumed() {
        let parker = Parker::new();
        parker.unparker().unpark();
        parker.unparker().unpark(); // tokens do not add up
        parker.park();
        let start = Instant::now();
        parker.park_timeout(Duration::from_millis(20));
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "no second token"
        );
    }

    #[test]
    fn unpark_from_another_thread_wakes_a_parked_thread() {
        for _ in 0..200 {
            let parker = Parker::new();
            let unparker = parker.unparker().clone();
            let waker = thread::spawn(move || unparker.unpark());
            parker.park(); // hangs (test timeout) if the wake-up were lost
            waker.join().expect("the unparking thread panicked");
        }
    }

    #[test]
    fn park_timeout_returns_after_the_timeout_without_a_token() {
        let parker = Parker::new();
        let start = Instant::now();
        parker.park_timeout(Duration::from_millis(30));
        assert!(start.elapsed() >= Duration::from_millis(30));
        // The word is EMPTY again: a later token still wakes a plain park.
        parker.unparker().unpark();
        parker.park();
    }

    #[test]
    fn park_timeout_returns_early_on_unpark() {
        let parker = Parker::new();
        let unparker = parker.unparker().clone();
        let waker = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            unparker.unpark();
        });
        let start = Instant::now();
        parker.park_timeout(Duration::from_secs(600));
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "unpark was not seen"
        );
        waker.join().expect("the unparking thread panicked");
    }
}
