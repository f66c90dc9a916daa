//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs `f` on a fresh thread and fails the test if it has not returned after
/// `secs` seconds (so a hang fails instead of blocking CI). The bounds are generous:
/// tests run in debug builds on 2 shared cores.
pub(crate) fn with_timeout<T: Send + 'static>(
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn the test thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => {
            let _ = thread.join();
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the test thread neither sent nor panicked"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test timed out after {secs} s (hang?)"),
    }
}

/// Yields once: wakes itself and returns `Pending` the first time it is polled.
pub(crate) fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// See [`yield_now`].
pub(crate) struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
