//! [`Barrier`]: asyncio's `Barrier`.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::loom_shim::{lock, Mutex};
use super::waitlist::{WaitKey, WaitList, WakeList};

/// Lets `parties` tasks wait until all of them have arrived.
///
/// [`wait`](Self::wait) returns the caller's arrival index (`0` for the first to
/// arrive, `parties - 1` for the one that released the others), then the
/// barrier is ready for the next round. [`abort`](Self::abort) breaks it: waiting
/// and later callers get a broken [`BarrierError`] until [`reset`](Self::reset), which
/// also breaks the current round's waiters (as asyncio) and makes it usable again.
///
/// A waiter dropped before the round completes leaves it (the round then needs
/// one more arrival), so cancelling a waiter never releases the others early.
///
/// ```
/// use std::sync::Arc;
/// use corio::sync::Barrier;
/// let barrier = Arc::new(Barrier::new(3));
/// let threads: Vec<_> = (0..3)
///     .map(|_| {
///         let b = barrier.clone();
///         std::thread::spawn(move || futures::executor::block_on(b.wait()).unwrap())
///     })
///     .collect();
/// let mut indices: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]);
/// ```
pub struct Barrier {
    parties: usize,
    state: Mutex<BarrierState>,
}

struct BarrierState {
    /// Tasks waiting in the current round.
    count: usize,
    broken: bool,
    waiters: WaitList<Result<(), BarrierError>>,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    /// If `parties` is 0 (asyncio raises `ValueError`).
    #[track_caller]
    pub fn new(parties: usize) -> Self {
        assert!(parties > 0, "Barrier::new: parties must be greater than 0");
        Barrier {
            parties,
            state: Mutex::new(BarrierState {
                count: 0,
                broken: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Waits until `parties` tasks are waiting; returns this task's arrival
    /// index, or a broken [`BarrierError`] if the barrier is or becomes broken.
    /// While it waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            index: 0,
            at: Location::caller(),
        }
    }

    /// Breaks the barrier: every waiting task and every later `wait` fails with
    /// a broken [`BarrierError`] until [`reset`](Self::reset).
    pub fn abort(&self) {
        self.break_waiters(true);
    }

    /// Returns the barrier to its empty, unbroken state; tasks waiting now fail
    /// with a broken [`BarrierError`].
    pub fn reset(&self) {
        self.break_waiters(false);
    }

    fn break_waiters(&self, stay_broken: bool) {
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&self.state);
            st.waiters
                .notify_all(|| Err(BarrierError::BROKEN), &mut wakes);
            st.count = 0;
            st.broken = stay_broken;
        }
        wakes.wake();
    }

    /// Number of tasks needed to pass.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Tasks waiting in the current round.
    pub fn n_waiting(&self) -> usize {
        lock(&self.state).count
    }

    /// True after [`abort`](Self::abort) (until [`reset`](Self::reset)).
    pub fn broken(&self) -> bool {
        lock(&self.state).broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("waiting", &st.count)
            .field("broken", &st.broken)
            .finish()
    }
}

/// Future returned by [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<WaitKey>,
    index: usize,
    at: &'static Location<'static>,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BarrierError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let at = self.at;
        crate::tree::pending_at(self.as_mut().poll_wait(cx), at)
    }
}

impl BarrierWait<'_> {
    /// [`Future::poll`] without recording the await point.
    fn poll_wait(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<usize, BarrierError>> {
        if crate::cancel::is_cancelled() {
            // Leave the round (it then needs one more arrival, as for a
            // dropped waiter).
            self.leave();
            return Poll::Ready(Err(BarrierError::CANCELLED));
        }
        let barrier = self.barrier;
        let mut wakes = WakeList::new();
        let mut st = lock(&barrier.state);
        match self.key {
            Some(key) => match st.waiters.poll(key, cx.waker()) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(r) => {
                    drop(st);
                    self.key = None;
                    Poll::Ready(r.map(|()| self.index))
                }
            },
            None => {
                if st.broken {
                    return Poll::Ready(Err(BarrierError::BROKEN));
                }
                let index = st.count;
                if index + 1 == barrier.parties {
                    st.count = 0;
                    st.waiters.notify_all(|| Ok(()), &mut wakes);
                    drop(st);
                    wakes.wake();
                    return Poll::Ready(Ok(index));
                }
                st.count += 1;
                let key = st.waiters.register(cx.waker());
                drop(st);
                self.key = Some(key);
                self.index = index;
                Poll::Pending
            }
        }
    }

    /// Leaves the round if still waiting in it.
    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            let mut st = lock(&self.barrier.state);
            // Still waiting: leave the round. Already released or broken: nothing to undo.
            if st.waiters.cancel(key).is_none() && st.count > 0 {
                st.count -= 1;
            }
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// Why [`Barrier::wait`] returned without passing the barrier: the barrier
/// was aborted, or reset while waiting (asyncio's `BrokenBarrierError`,
/// [`is_broken`](Self::is_broken)), or the waiting task was cancelled
/// cooperatively and left the round (asyncio's `CancelledError`,
/// [`is_cancelled`](Self::is_cancelled); see [`crate::cancel`]).
///
/// ```
/// futures::executor::block_on(async {
///     let b = corio::sync::Barrier::new(2);
///     b.abort();
///     let err = b.wait().await.unwrap_err();
///     assert!(err.is_broken() && !err.is_cancelled());
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierError {
    cancelled: bool,
}

impl BarrierError {
    const BROKEN: BarrierError = BarrierError { cancelled: false };
    const CANCELLED: BarrierError = BarrierError { cancelled: true };

    /// True when the barrier was aborted or reset.
    pub fn is_broken(&self) -> bool {
        !self.cancelled
    }

    /// True when the waiting task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }
}

impl fmt::Display for BarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.cancelled {
            "barrier wait cancelled"
        } else {
            "barrier is broken (aborted or reset while tasks waited)"
        })
    }
}

impl std::error::Error for BarrierError {}
