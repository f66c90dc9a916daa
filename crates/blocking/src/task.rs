//! The result hand-off: one allocation per job holding the closure and a
//! one-shot result slot, and [`BlockingTask`], the future that reads the slot.
//!
//! A job moves through three hands:
//!
//! 1. `spawn` boxes the closure and an empty [`Slot`] into one `Arc<Packet>` and
//!    keeps two views of it: an `Arc<dyn Job>` for the pool's queue and an
//!    `Arc<dyn Output<T>>` inside the returned [`BlockingTask`].
//! 2. A pool thread calls [`Job::run`]: it takes the closure out, runs it inside
//!    `catch_unwind` with no lock held, and [`Slot::complete`]s the slot, waking the
//!    waker the task registered (if any) after releasing the slot's lock.
//! 3. The task's `poll` takes the result out of the slot, or stores `cx.waker()` in
//!    it; both sides use the slot's mutex, so "complete" and "register waker"
//!    cannot miss each other (the loom model in `tests/loom.rs` checks this).
//!
//! If the pool drops a job without running it (shutdown), [`Job::fail`] drops the
//! closure and completes the slot with the error instead. A `BlockingTask` can be
//! dropped at any time: the closure still runs, its result is dropped with the
//! packet when the last `Arc` goes.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use crate::error::BlockingError;
use crate::sync::{lock, thread, Mutex};

/// A one-shot result slot: written once by the producing side, taken once by
/// the task. The mutex is uncontended in the common case (one lock per side).
pub(crate) struct Slot<T> {
    inner: Mutex<SlotInner<T>>,
}

struct SlotInner<T> {
    result: Option<Result<T, BlockingError>>,
    waker: Option<Waker>,
    /// The result was already handed to the task (a second poll is a bug).
    taken: bool,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Self {
        Slot {
            inner: Mutex::new(SlotInner {
                result: None,
                waker: None,
                taken: false,
            }),
        }
    }

    /// Stores the result and wakes the waiting task (outside the lock).
    /// A second completion is ignored (the first result wins).
    pub(crate) fn complete(&self, result: Result<T, BlockingError>) {
        let waker = {
            let mut inner = lock(&self.inner);
            if inner.result.is_some() || inner.taken {
                return;
            }
            inner.result = Some(result);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Result<T, BlockingError>> {
        let mut inner = lock(&self.inner);
        if let Some(result) = inner.result.take() {
            inner.taken = true;
            inner.waker = None;
            return Poll::Ready(result);
        }
        assert!(!inner.taken, "BlockingTask polled after it completed");
        match &inner.waker {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn is_complete(&self) -> bool {
        let inner = lock(&self.inner);
        inner.result.is_some() || inner.taken
    }
}

/// A queued unit of work, type-erased for the pool's queue.
pub(crate) trait Job: Send + Sync {
    /// Runs the closure (catching a panic) and completes the slot. Called at most once.
    fn run(&self);
    /// Drops the closure without running it and completes the slot with `err`.
    fn fail(&self, err: BlockingError);
}

/// The typed reading side of a job, type-erased over the closure type.
pub(crate) trait Output<T>: Send + Sync {
    fn poll_output(&self, cx: &mut Context<'_>) -> Poll<Result<T, BlockingError>>;
    fn is_complete(&self) -> bool;
}

/// The closure and its result slot, in one allocation.
struct Packet<F, T> {
    func: Mutex<Option<F>>,
    slot: Slot<T>,
}

impl<F, T> Job for Packet<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn run(&self) {
        let func = lock(&self.func).take();
        if let Some(func) = func {
            let result = catch_unwind(AssertUnwindSafe(func)).map_err(BlockingError::panicked);
            self.slot.complete(result);
        }
    }

    fn fail(&self, err: BlockingError) {
        let func = lock(&self.func).take();
        drop(func);
        self.slot.complete(Err(err));
    }
}

impl<F, T> Output<T> for Packet<F, T>
where
    F: Send,
    T: Send,
{
    fn poll_output(&self, cx: &mut Context<'_>) -> Poll<Result<T, BlockingError>> {
        self.slot.poll_take(cx)
    }

    fn is_complete(&self) -> bool {
        self.slot.is_complete()
    }
}

/// Builds the packet for `func`: the queue's view and the task.
pub(crate) fn packet<F, T>(func: F) -> (StdArc<dyn Job>, BlockingTask<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let packet = StdArc::new(Packet {
        func: Mutex::new(Some(func)),
        slot: Slot::new(),
    });
    let job: StdArc<dyn Job> = packet.clone();
    (job, BlockingTask::from_output(packet))
}

/// A process-pool reply: raw postcard bytes, decoded into `R` when the task takes them.
#[cfg(all(unix, feature = "process-pool"))]
pub(crate) struct Decode<R> {
    slot: Slot<Vec<u8>>,
    _result: std::marker::PhantomData<fn() -> R>,
}

#[cfg(all(unix, feature = "process-pool"))]
impl<R> Decode<R> {
    pub(crate) fn new() -> Self {
        Decode {
            slot: Slot::new(),
            _result: std::marker::PhantomData,
        }
    }

    pub(crate) fn slot(&self) -> &Slot<Vec<u8>> {
        &self.slot
    }
}

#[cfg(all(unix, feature = "process-pool"))]
impl<R: serde::de::DeserializeOwned + Send> Output<R> for Decode<R> {
    fn poll_output(&self, cx: &mut Context<'_>) -> Poll<Result<R, BlockingError>> {
        self.slot.poll_take(cx).map(|res| {
            res.and_then(|bytes| {
                postcard::from_bytes(&bytes)
                    .map_err(|e| BlockingError::codec(format!("decoding the result failed: {e}")))
            })
        })
    }

    fn is_complete(&self) -> bool {
        self.slot.is_complete()
    }
}

/// The result of work handed to a pool: a plain future any executor can await.
///
/// Resolves to `Ok(value)` when the work returned, or to a [`BlockingError`] when it
/// panicked, never ran (pool shut down), or its worker process died. It holds no
/// reference to any runtime: await it under corio, tokio, `futures::executor`, or
/// block on it from a plain thread with [`wait`](BlockingTask::wait).
///
/// Dropping a `BlockingTask` does not cancel the work (a running closure cannot be
/// interrupted); its result is simply dropped.
///
/// ```
/// let task = corio_blocking::spawn_blocking(|| 6 * 7);
/// assert_eq!(task.wait().unwrap(), 42);
/// ```
#[must_use = "a BlockingTask does nothing useful unless awaited or waited on (the work runs anyway)"]
pub struct BlockingTask<T> {
    output: StdArc<dyn Output<T>>,
}

impl<T> BlockingTask<T> {
    pub(crate) fn from_output(output: StdArc<dyn Output<T>>) -> Self {
        BlockingTask { output }
    }

    /// A task that is already resolved with `err` (e.g. spawned on a shut-down pool).
    #[cfg(all(unix, feature = "process-pool"))]
    pub(crate) fn failed(err: BlockingError) -> Self
    where
        T: Send + 'static,
    {
        let slot = StdArc::new(Failed::<T> { slot: Slot::new() });
        slot.slot.complete(Err(err));
        BlockingTask { output: slot }
    }

    /// True once the work has finished (returned, panicked or was dropped), i.e.
    /// awaiting the task would not wait.
    pub fn is_finished(&self) -> bool {
        self.output.is_complete()
    }

    /// Blocks the current thread until the work finishes, and returns its result.
    ///
    /// Meant for plain (non-async) threads, like `concurrent.futures.Future.result()`.
    /// Calling it on an async executor's thread blocks that thread: `.await` instead.
    ///
    /// ```
    /// let pool = corio_blocking::ThreadPool::new(2);
    /// let handle = pool.submit(|| "done");
    /// assert_eq!(handle.wait().unwrap(), "done");
    /// ```
    pub fn wait(self) -> Result<T, BlockingError> {
        let unparker = StdArc::new(Unparker(thread::current()));
        let waker = Waker::from(unparker);
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(result) = self.output.poll_output(&mut cx) {
                return result;
            }
            thread::park();
        }
    }
}

impl<T> Future for BlockingTask<T> {
    type Output = Result<T, BlockingError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.output.poll_output(cx)
    }
}

impl<T> fmt::Debug for BlockingTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingTask")
            .field("finished", &self.is_finished())
            .finish()
    }
}

#[cfg(all(unix, feature = "process-pool"))]
struct Failed<T> {
    slot: Slot<T>,
}

#[cfg(all(unix, feature = "process-pool"))]
impl<T: Send> Output<T> for Failed<T> {
    fn poll_output(&self, cx: &mut Context<'_>) -> Poll<Result<T, BlockingError>> {
        self.slot.poll_take(cx)
    }

    fn is_complete(&self) -> bool {
        true
    }
}

/// Wakes a thread blocked in [`BlockingTask::wait`].
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: StdArc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.0.unpark();
    }
}
