//! Loom models of the task state machine (run by `ci/loom.sh`: `--cfg loom`,
//! `LOOM_MAX_PREEMPTIONS=2`). Each model is a race the state machine must win in every
//! interleaving: loom re-runs it under all of them (up to the preemption bound), with the
//! crate's atomics and cells swapped for loom's instrumented ones (`src/sync.rs`).
#![cfg(loom)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::task::{Context, Poll, Wake, Waker};

use corio_core::{Runnable, Task};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// A queue the schedule function pushes to.
#[derive(Clone, Default)]
struct Q(Arc<Mutex<VecDeque<Runnable>>>);

impl Q {
    fn sched(&self) -> impl Fn(Runnable) + Send + Sync + 'static {
        let q = self.0.clone();
        move |r| q.lock().unwrap().push_back(r)
    }
    fn pop(&self) -> Option<Runnable> {
        self.0.lock().unwrap().pop_front()
    }
    fn drain(&self) {
        while let Some(r) = self.pop() {
            r.run();
        }
    }
}

/// Counts drops (std atomics: loom runs its threads on one OS thread, so these are exact).
#[derive(Clone)]
struct Drops {
    made: std::sync::Arc<StdAtomicUsize>,
    dropped: std::sync::Arc<StdAtomicUsize>,
}
struct Counted(std::sync::Arc<StdAtomicUsize>);
impl Drops {
    fn new() -> Drops {
        Drops {
            made: std::sync::Arc::new(StdAtomicUsize::new(0)),
            dropped: std::sync::Arc::new(StdAtomicUsize::new(0)),
        }
    }
    fn token(&self) -> Counted {
        self.made.fetch_add(1, StdOrdering::SeqCst);
        Counted(self.dropped.clone())
    }
    /// How many were dropped.
    fn get(&self) -> usize {
        self.dropped.load(StdOrdering::SeqCst)
    }
    fn made(&self) -> usize {
        self.made.load(StdOrdering::SeqCst)
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, StdOrdering::SeqCst);
    }
}

/// A waker that records that it was woken.
struct Flag(AtomicBool);
impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn poll_task<T>(task: &mut Task<T>, waker: &Waker) -> Poll<Result<T, corio_core::TaskError>> {
    Pin::new(task).poll(&mut Context::from_waker(waker))
}

/// A future that completes once `ready` is set, registering its waker in `slot`.
fn until_set(
    ready: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
) -> impl Future<Output = ()> + Send + 'static {
    std::future::poll_fn(move |_cx| {
        polls.fetch_add(1, Ordering::SeqCst);
        if ready.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// Spawns (scheduled nowhere) a task whose future holds one of `futs`' tokens and
/// returns one of `outs`' tokens, so the drops of both future and output are counted.
fn spawn_counted(futs: &Drops, outs: &Drops) -> (Runnable, Task<Counted>) {
    let (held, out) = (futs.token(), outs.clone());
    corio_core::spawn(
        async move {
            let _held = held;
            out.token()
        },
        |_r| {},
    )
}

/// Spawns a task whose future holds one of `futs`' tokens and never finishes.
fn spawn_pending(futs: &Drops, schedule: impl corio_core::Schedule) -> (Runnable, Task<()>) {
    let held = futs.token();
    corio_core::spawn(
        async move {
            let _held = held;
            std::future::pending::<()>().await
        },
        schedule,
    )
}

#[test]
fn wake_during_run_is_neither_lost_nor_doubled() {
    loom::model(|| {
        let q = Q::default();
        let ready = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicUsize::new(0));
        let (runnable, mut task) =
            corio_core::spawn(until_set(ready.clone(), polls.clone()), q.sched());
        let waker = runnable.waker();
        let waking = thread::spawn(move || {
            ready.store(true, Ordering::SeqCst);
            waker.wake();
        });
        runnable.run();
        waking.join().unwrap();
        // Whatever the interleaving, at most one Runnable was queued and it finishes the task.
        assert!(q.0.lock().unwrap().len() <= 1);
        q.drain();
        assert!(task.is_finished(), "the wake-up was lost");
        assert!(
            polls.load(Ordering::SeqCst) <= 2,
            "polled more often than woken"
        );
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        assert!(matches!(
            poll_task(&mut task, &Waker::from(flag)),
            Poll::Ready(Ok(()))
        ));
    });
}

#[test]
fn cancel_racing_completion() {
    loom::model(|| {
        let futs = Drops::new();
        let outs = Drops::new();
        let (runnable, task) = spawn_counted(&futs, &outs);
        let task = Arc::new(task);
        let t = task.clone();
        let canceller = thread::spawn(move || t.cancel());
        runnable.run();
        let cancelled = canceller.join().unwrap();
        let mut task = Arc::try_unwrap(task).ok().unwrap();
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        match poll_task(&mut task, &Waker::from(flag)) {
            Poll::Ready(Ok(out)) => {
                assert!(!cancelled, "cancel() said true but the output was kept");
                drop(out);
            }
            Poll::Ready(Err(e)) => assert!(cancelled && e.is_cancelled()),
            Poll::Pending => panic!("both sides are done: the task must be finished"),
        }
        drop(task);
        assert_eq!(futs.get(), 1, "the future is dropped exactly once");
        // The output exists only if the future was polled before the cancel.
        assert_eq!(
            outs.get(),
            outs.made(),
            "the output is dropped exactly once"
        );
    });
}

#[test]
fn join_handle_drop_racing_completion() {
    loom::model(|| {
        let futs = Drops::new();
        let outs = Drops::new();
        let (runnable, task) = spawn_counted(&futs, &outs);
        let dropper = thread::spawn(move || drop(task));
        runnable.run();
        dropper.join().unwrap();
        assert_eq!(futs.get(), 1);
        assert_eq!(outs.get(), 1, "exactly one side dropped the output");
    });
}

#[test]
fn join_waker_registration_racing_completion() {
    loom::model(|| {
        let (runnable, mut task) = corio_core::spawn(async { 7 }, |_r| {});
        let runner = thread::spawn(move || {
            runnable.run();
        });
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let first = poll_task(&mut task, &waker);
        runner.join().unwrap();
        match first {
            Poll::Ready(r) => assert_eq!(r.unwrap(), 7),
            Poll::Pending => {
                assert!(flag.0.load(Ordering::SeqCst), "registered but never woken");
                assert!(matches!(poll_task(&mut task, &waker), Poll::Ready(Ok(7))));
            }
        }
    });
}

#[test]
fn wakers_cloned_and_dropped_across_threads() {
    loom::model(|| {
        let q = Q::default();
        let futs = Drops::new();
        let held = futs.token();
        let ready = Arc::new(AtomicBool::new(false));
        let polls = Arc::new(AtomicUsize::new(0));
        let inner = until_set(ready.clone(), polls);
        let (runnable, task) = corio_core::spawn(
            async move {
                let _held = held;
                inner.await
            },
            q.sched(),
        );
        let w1 = runnable.waker();
        runnable.run();
        let w2 = w1.clone();
        let a = thread::spawn(move || {
            let c = w1.clone();
            drop(w1);
            c.wake_by_ref();
        });
        let b = thread::spawn(move || {
            ready.store(true, Ordering::SeqCst);
            w2.wake();
        });
        drop(task); // detached: the last of the wakers or the Runnable frees it
        a.join().unwrap();
        b.join().unwrap();
        q.drain();
        assert_eq!(futs.get(), 1, "the future is dropped exactly once");
    });
}

#[test]
fn cancel_while_running_with_a_concurrent_wake() {
    loom::model(|| {
        let q = Q::default();
        let futs = Drops::new();
        let (runnable, task) = spawn_pending(&futs, q.sched());
        let waker = runnable.waker();
        let task = Arc::new(task);
        let t = task.clone();
        let canceller = thread::spawn(move || assert!(t.cancel()));
        let w = thread::spawn(move || waker.wake());
        runnable.run();
        canceller.join().unwrap();
        w.join().unwrap();
        q.drain();
        assert!(task.is_finished() && task.is_cancelled());
        assert_eq!(futs.get(), 1);
    });
}

#[test]
fn runnable_drop_at_shutdown_racing_cancel() {
    loom::model(|| {
        let futs = Drops::new();
        let (runnable, task) = spawn_pending(&futs, |_r| {});
        let task = Arc::new(task);
        let t = task.clone();
        // `false` if the shutdown already finished the task (cancelled): either way it is.
        let canceller = thread::spawn(move || t.cancel());
        drop(runnable); // the executor shutting down
        let _ = canceller.join().unwrap();
        assert!(task.is_finished() && task.is_cancelled());
        assert_eq!(futs.get(), 1, "exactly one side dropped the future");
    });
}

#[test]
fn last_waker_and_task_dropped_on_different_threads() {
    loom::model(|| {
        let futs = Drops::new();
        let (runnable, task) = spawn_pending(&futs, |_r| {});
        let waker = runnable.waker();
        runnable.run(); // idle now; only the Task and one waker remain
        let dropper = thread::spawn(move || drop(waker));
        drop(task);
        dropper.join().unwrap();
        // Whoever dropped the last reference dropped the unreachable future, once.
        assert_eq!(futs.get(), 1);
    });
}
