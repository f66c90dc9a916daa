//! Where a task waits, for task dumps.
//!
//! An executor that shows its tasks' await points (corio's facade does, in its
//! task tree) installs a recorder once; from then on this crate's leaf futures
//! that were created at a known place in the user's code ([`sleep`] and
//! [`sleep_until`] take `#[track_caller]`) hand that place to the recorder each
//! time they return `Pending`; so do the socket methods (`accept`, `connect`,
//! `read_with`, UDP `send`/`recv`, `peek`, `readable`, ...) and
//! [`Interval::tick`](crate::timer::Interval::tick), through [`At`]. Without a recorder (the default, and under other
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

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

/// A function told where the current task waits.
pub type Recorder = fn(&'static Location<'static>);

static RECORDER: OnceLock<Recorder> = OnceLock::new();
static OUTER_RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs the process's recorder; the first call wins (returns `false` for
/// any later one).
pub fn set_recorder(recorder: Recorder) -> bool {
    RECORDER.set(recorder).is_ok()
}

/// Installs the recorder [`At`] uses (the first call wins), for a recorder that
/// lets a point replace one recorded earlier in the same poll: an `At` wraps
/// leaves of its own (a connect's retry sleep, a `tick`'s timer), and the
/// caller's line is the one to show. Without it, `At` uses [`set_recorder`]'s.
pub fn set_outer_recorder(recorder: Recorder) -> bool {
    OUTER_RECORDER.set(recorder).is_ok()
}

/// Tells the recorder, if any, that the current task waits at `at`.
#[inline]
pub(crate) fn record(at: Option<&'static Location<'static>>) {
    if let (Some(at), Some(recorder)) = (at, RECORDER.get()) {
        recorder(at);
    }
}

pin_project_lite::pin_project! {
    /// A future that hands the place it was created at to the recorder each
    /// time it returns `Pending`: what this crate's `#[track_caller]` socket
    /// and interval methods return around their work.
    ///
    /// ```
    /// use corio_reactor::net::UdpSocket;
    ///
    /// corio_reactor::block_on(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0")?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     a.send_to(b"hi", b.local_addr()?).await?;
    ///     let mut buf = [0u8; 8];
    ///     let recv = b.recv_from(&mut buf); // an `At`: remembers this line
    ///     assert_eq!(recv.location().line(), line!() - 1);
    ///     assert_eq!(recv.await?.0, 2);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct At<F> {
        #[pin]
        fut: F,
        at: &'static Location<'static>,
    }
}

impl<F> At<F> {
    /// `fut`, waiting at the caller's location (a `#[track_caller]` method's caller).
    #[track_caller]
    pub(crate) fn caller(fut: F) -> Self {
        At {
            fut,
            at: Location::caller(),
        }
    }

    /// Where the future was created: the await point it records.
    pub fn location(&self) -> &'static Location<'static> {
        self.at
    }
}

impl<F: Future> Future for At<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let poll = this.fut.poll(cx);
        if poll.is_pending() {
            if let Some(recorder) = OUTER_RECORDER.get().or(RECORDER.get()) {
                recorder(this.at);
            }
        }
        poll
    }
}

impl<F> fmt::Debug for At<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("At")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}
