//! Where a task waits, for task dumps.
//!
//! An executor that shows its tasks' await points (corio's facade does, in its
//! task tree) installs a recorder once; from then on this crate's leaf futures
//! that were created at a known place in the user's code ([`sleep`] and
//! [`sleep_until`] take `#[track_caller]`) hand that place to the recorder each
//! time they return `Pending`. Without a recorder (the default, and under other
//! executors) a leaf pays one load of an empty `OnceLock`. The reactor itself
//! knows nothing of tasks, so the recorder decides which task the point belongs
//! to (the one being polled on this thread).
//!
//! [`sleep`]: crate::timer::sleep
//! [`sleep_until`]: crate::timer::sleep_until
//!
//! ```
//! use std::panic::Location;
//! use std::sync::atomic::{AtomicU32, Ordering};
//!
//! static LINE: AtomicU32 = AtomicU32::new(0);
//! fn recorder(at: &'static Location<'static>) {
//!     LINE.store(at.line(), Ordering::Relaxed);
//! }
//! corio_reactor::await_point::set_recorder(recorder);
//! corio_reactor::block_on(async {
//!     corio_reactor::timer::sleep(std::time::Duration::from_millis(1)).await;
//! });
//! assert_eq!(LINE.load(Ordering::Relaxed), line!() - 2);
//! ```

use std::panic::Location;
use std::sync::OnceLock;

/// A function told where the current task waits.
pub type Recorder = fn(&'static Location<'static>);

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs the process's recorder; the first call wins (returns `false` for
/// any later one).
pub fn set_recorder(recorder: Recorder) -> bool {
    RECORDER.set(recorder).is_ok()
}

/// Tells the recorder, if any, that the current task waits at `at`.
#[inline]
pub(crate) fn record(at: Option<&'static Location<'static>>) {
    if let (Some(at), Some(recorder)) = (at, RECORDER.get()) {
        recorder(at);
    }
}
