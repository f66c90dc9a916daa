//! Helpers shared by the integration tests: a tiny queue executor, drop counters, a
//! recording schedule function and a `block_on` with a timeout (a hang fails, not blocks).
#![allow(dead_code)] // each test file uses a different subset

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use corio_core::{Runnable, Schedule, ScheduleInfo, TaskMeta};

/// Generous bound for anything a test waits on: 2 loaded cores can be slow, but a
/// correct test never comes close; a broken one fails instead of hanging CI.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// Iterations for the race tests: enough to hit the interleavings on real threads, small
/// enough for Miri (which is ~1000x slower and explores interleavings itself).
pub(crate) const fn iters(native: usize) -> usize {
    if cfg!(miri) {
        4
    } else {
        native
    }
}

/// A FIFO of runnables, with the `ScheduleInfo` each arrived with and the panics nobody
/// retrieved.
#[derive(Default)]
pub(crate) struct Queue {
    pub runnables: Mutex<VecDeque<(Runnable, ScheduleInfo)>>,
    pub scheduled: AtomicUsize,
    pub panics: Mutex<Vec<(String, Option<String>)>>,
}

impl Queue {
    pub(crate) fn new() -> Arc<Queue> {
        Arc::new(Queue::default())
    }

    pub(crate) fn pop(&self) -> Option<(Runnable, ScheduleInfo)> {
        self.runnables.lock().unwrap().pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.runnables.lock().unwrap().len()
    }

    /// Runs until the queue is empty; returns how many runs.
    pub(crate) fn run_all(&self) -> usize {
        let mut n = 0;
        while let Some((r, _)) = self.pop() {
            r.run();
            n += 1;
        }
        n
    }

    pub(crate) fn panic_messages(&self) -> Vec<String> {
        self.panics
            .lock()
            .unwrap()
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }
}

/// The schedule function of a [`Queue`].
#[derive(Clone)]
pub(crate) struct Sched(pub Arc<Queue>);

impl Schedule for Sched {
    fn schedule(&self, runnable: Runnable, info: ScheduleInfo) {
        self.0.scheduled.fetch_add(1, Ordering::SeqCst);
        self.0.runnables.lock().unwrap().push_back((runnable, info));
    }

    fn unhandled_panic(&self, task: &TaskMeta, payload: Box<dyn Any + Send>) {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "<non-string>".to_string());
        self.0
            .panics
            .lock()
            .unwrap()
            .push((msg, task.name().map(str::to_string)));
    }
}

/// Counts live instances; each instance asserts it is dropped at most once.
#[derive(Clone, Default)]
pub(crate) struct Counter {
    pub created: Arc<AtomicUsize>,
    pub dropped: Arc<AtomicUsize>,
}

impl Counter {
    pub(crate) fn new() -> Counter {
        Counter::default()
    }
    pub(crate) fn token(&self) -> Token {
        self.created.fetch_add(1, Ordering::SeqCst);
        Token {
            dropped: self.dropped.clone(),
            done: false,
        }
    }
    pub(crate) fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
    pub(crate) fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }
    pub(crate) fn live(&self) -> usize {
        self.created() - self.dropped()
    }
}

/// One counted object.
#[derive(Debug)]
pub(crate) struct Token {
    dropped: Arc<AtomicUsize>,
    done: bool,
}

impl Drop for Token {
    fn drop(&mut self) {
        assert!(!self.done, "dropped twice");
        self.done = true;
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that unparks a thread and counts its wake-ups.
pub(crate) struct CountingWaker {
    pub wakes: AtomicUsize,
    thread: Thread,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

pub(crate) fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let w = Arc::new(CountingWaker {
        wakes: AtomicUsize::new(0),
        thread: thread::current(),
    });
    (w.clone(), Waker::from(w))
}

/// Polls `fut` on this thread until ready; panics after [`TIMEOUT`].
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        let now = Instant::now();
        assert!(now < deadline, "block_on timed out after {TIMEOUT:?}");
        thread::park_timeout(deadline - now);
    }
}

/// Polls `fut` once with a no-op waker.
pub(crate) fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    std::pin::Pin::new(fut).poll(&mut cx)
}

/// Joins a thread, failing after [`TIMEOUT`] instead of hanging.
pub(crate) fn join_timeout<T>(handle: thread::JoinHandle<T>) -> thread::Result<T> {
    let deadline = Instant::now() + TIMEOUT;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "thread did not finish within {TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(1));
    }
    handle.join()
}

/// A future that is pending until its shared flag is set, storing the latest waker.
#[derive(Clone, Default)]
pub(crate) struct Gate {
    inner: Arc<Mutex<(bool, Option<Waker>)>>,
}

impl Gate {
    pub(crate) fn new() -> Gate {
        Gate::default()
    }
    /// Opens the gate and wakes the waiter (if any).
    pub(crate) fn open(&self) {
        let w = {
            let mut g = self.inner.lock().unwrap();
            g.0 = true;
            g.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }
    /// Takes the stored waker (leaving the gate closed).
    pub(crate) fn take_waker(&self) -> Option<Waker> {
        self.inner.lock().unwrap().1.take()
    }
    pub(crate) fn has_waker(&self) -> bool {
        self.inner.lock().unwrap().1.is_some()
    }
    /// Waits for the gate.
    pub(crate) fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let inner = self.inner.clone();
        std::future::poll_fn(move |cx| {
            let mut g = inner.lock().unwrap();
            if g.0 {
                Poll::Ready(())
            } else {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}
