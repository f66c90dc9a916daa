//! The cancellation signal the reactor's leaf futures honour.
//!
//! An executor that cancels tasks cooperatively (corio's facade does, when a
//! task has a cancellation grace period) sets this thread's flag around the
//! poll of a task that was asked to cancel, and clears it again inside
//! regions that must run normally (cleanup). While the flag is set, every
//! leaf future of this crate completes at its next poll, without waiting:
//! [`Sleep`](crate::timer::Sleep) as if its deadline had passed, and socket
//! operations (read, write, accept, connect, readiness waits) with an
//! `io::Error` whose inner error is [`Cancelled`] (see [`is_cancelled_error`]).
//! The signal is level-triggered: every later poll sees it too, so a
//! cancellation cannot be lost by one await that ignores it.
//!
//! With no executor setting it (the default), the flag is always clear and a
//! leaf pays one relaxed load of a process-wide "ever set" flag: the
//! thread-local is not touched until some thread sets its flag (a
//! thread-local access is an out-of-line call when it crosses crates, about
//! ten instructions on every `yield_now`).
//!
//! ```
//! use corio_reactor::{block_on, cancel, timer::sleep};
//! use std::time::{Duration, Instant};
//!
//! block_on(async {
//!     let start = Instant::now();
//!     let prev = cancel::set_cancelled(true);
//!     sleep(Duration::from_secs(3600)).await; // completes at once
//!     cancel::set_cancelled(prev);
//!     assert!(start.elapsed() < Duration::from_secs(60));
//! });
//! ```

use std::cell::Cell;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static CANCELLED: Cell<bool> = const { Cell::new(false) };
}

/// Set (for good) the first time any thread sets its flag. Relaxed is
/// enough: a thread only reads its own flag, and its own store to this one
/// comes before that in program order; other threads' flags are clear.
static EVER_SET: AtomicBool = AtomicBool::new(false);

/// True while the task being polled on this thread is cancelled and not
/// shielded.
#[inline]
pub fn is_cancelled() -> bool {
    EVER_SET.load(Ordering::Relaxed) && CANCELLED.with(Cell::get)
}

/// Set this thread's flag (for executors and cleanup scopes); returns the
/// previous value, to restore when the poll ends.
#[inline]
pub fn set_cancelled(on: bool) -> bool {
    if on {
        EVER_SET.store(true, Ordering::Relaxed);
    } else if !EVER_SET.load(Ordering::Relaxed) {
        return false; // never set anywhere: clear already
    }
    CANCELLED.with(|c| c.replace(on))
}

/// The error of a leaf that completed because its task was cancelled.
///
/// Executors and wrappers that cancel leaves of their own make one with
/// `Cancelled::default()`.
///
/// ```
/// let err = std::io::Error::from(corio_reactor::cancel::Cancelled::default());
/// assert!(corio_reactor::cancel::is_cancelled_error(&err));
/// assert_eq!(err.to_string(), "operation cancelled");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled {
    _private: (),
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation cancelled")
    }
}

impl std::error::Error for Cancelled {}

impl From<Cancelled> for io::Error {
    fn from(c: Cancelled) -> io::Error {
        // Not `Interrupted`: `write_all`/`read_exact` retry that kind forever.
        io::Error::other(c)
    }
}

/// True if `err` is the error of an I/O leaf cancelled this way.
pub fn is_cancelled_error(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|e| e.is::<Cancelled>())
}
