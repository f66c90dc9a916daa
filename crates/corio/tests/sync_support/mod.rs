//! Helpers shared by the sync_* and queue_* tests: a hard timeout around each
//! test body and single-step polling.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Generous bound for a test body: a hang fails the test instead of blocking CI.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread; panics if it does not finish within `limit`
/// (re-raises its panic if it panicked).
pub fn with_timeout<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(limit) {
        Ok(()) => handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        Err(mpsc::RecvTimeoutError::Disconnected) => handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("test body did not finish within {limit:?} (hang?)")
        }
    }
}

/// `futures::executor::block_on(fut)` under [`TEST_TIMEOUT`].
pub fn block_on_timeout<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    with_timeout(TEST_TIMEOUT, move || futures::executor::block_on(fut))
}

/// Polls `fut` once with a no-op waker.
pub fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    fut.poll(&mut cx)
}
