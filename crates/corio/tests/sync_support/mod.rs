//! Helpers shared by the sync_* and queue_* tests: a hard timeout around each
//! test body and single-step polling.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Generous bound for a test body: a hang fails the test instead of blocking CI.
pub(crate) const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread; panics if it does not finish within `limit`
/// (re-raises its panic if it panicked).
pub(crate) fn with_timeout<T: Send + 'static>(
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
pub(crate) fn block_on_timeout<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    with_timeout(TEST_TIMEOUT, move || futures::executor::block_on(fut))
}

/// Polls `fut` once with a no-op waker.
pub(crate) fn poll_once<F: Future + ?Sized>(fut: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    fut.poll(&mut cx)
}

/// Polls `fut` at most `polls` times (re-waking itself in between, so the
/// executor keeps polling), then gives up and drops it: a random cancellation
/// point for the cancellation storms. `None` means the future was dropped.
pub(crate) async fn poll_n_then_drop<F: Future>(fut: F, polls: u32) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut left = polls;
    std::future::poll_fn(move |cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending if left == 0 => Poll::Ready(None),
        Poll::Pending => {
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// A tiny xorshift PRNG: reproducible storms without a dependency.
pub(crate) struct Rng(pub u64);

impl Rng {
    /// Next value in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `corio::run(fut)` on its own thread under [`TEST_TIMEOUT`].
pub(crate) fn run_timeout<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    with_timeout(TEST_TIMEOUT, move || corio::run(fut))
}

/// Polls `cond` every 5 ms until it holds; panics saying `what` after `limit`.
/// For states no event announces (a process gone, a peer's end of stream).
pub(crate) async fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        corio::sleep(Duration::from_millis(5)).await;
    }
}

/// A process's state letter from /proc/<pid>/stat (`Z` zombie), `None` once gone.
pub(crate) fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the parenthesised command name.
    s.rsplit(')').next()?.trim().chars().next()
}

/// Lets this process open `want` descriptors if the hard limit allows it;
/// returns the soft limit now in force.
pub(crate) fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        lim.rlim_cur
    }
}
