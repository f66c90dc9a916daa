//! Cancellation: prompt, the future dropped before the Task resolves, the result of a
//! finished task kept; dropping an unrun Runnable cancels.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::Poll;
use std::thread::{self, ThreadId};

use common::{block_on, join_timeout, poll_once, Counter, Gate, Queue, Sched};
use corio_core::Task;

/// Records on which thread it was dropped.
struct DropSpy(Arc<Mutex<Option<ThreadId>>>);
impl Drop for DropSpy {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(thread::current().id());
    }
}

#[test]
fn cancel_idle_drops_the_future_at_once_on_the_caller() {
    let q = Queue::new();
    let dropped_on = Arc::new(Mutex::new(None));
    let spy = DropSpy(dropped_on.clone());
    let gate = Gate::new();
    let wait = gate.wait();
    let (runnable, task) = corio_core::spawn(
        async move {
            let _spy = spy;
            wait.await
        },
        Sched(q.clone()),
    );
    runnable.run();
    assert!(!task.is_finished());
    assert!(task.cancel());
    assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
    assert!(task.is_finished() && task.is_cancelled());
    assert!(block_on(task).unwrap_err().is_cancelled());
    assert_eq!(q.len(), 0, "nothing to schedule");
}

#[test]
fn cancel_before_the_first_run_never_polls() {
    let q = Queue::new();
    let polled = Arc::new(AtomicBool::new(false));
    let p = polled.clone();
    let (runnable, task) = corio_core::spawn(
        async move { p.store(true, Ordering::SeqCst) },
        Sched(q.clone()),
    );
    assert!(task.cancel());
    assert!(task.is_finished());
    assert!(
        !runnable.run(),
        "the queued Runnable just releases its reference"
    );
    assert!(!polled.load(Ordering::SeqCst));
    assert!(block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn cancel_while_running_drops_after_the_poll() {
    let q = Queue::new();
    let slot: Arc<OnceLock<Task<()>>> = Arc::default();
    let counter = Counter::new();
    let token = counter.token();
    let (s, c) = (slot.clone(), counter.clone());
    let fut = std::future::poll_fn(move |_cx| {
        let _keep = &token;
        assert!(s.get().unwrap().cancel(), "not finished: cancel succeeds");
        assert_eq!(
            c.dropped(),
            0,
            "the future is still alive during its own poll"
        );
        Poll::<()>::Pending
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    slot.set(task).unwrap();
    assert!(!runnable.run());
    assert_eq!(counter.dropped(), 1, "dropped right after the poll");
    let task = Arc::into_inner(slot).unwrap().into_inner().unwrap();
    assert!(block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn cancel_during_the_last_poll_wins_over_the_output() {
    // As asyncio: a cancel() that returned true means the result is Cancelled, even if the
    // coroutine finished in that very step. The output is dropped.
    let q = Queue::new();
    let slot: Arc<OnceLock<Task<common::Token>>> = Arc::default();
    let counter = Counter::new();
    let (s, c) = (slot.clone(), counter.clone());
    let fut = std::future::poll_fn(move |_cx| {
        assert!(s.get().unwrap().cancel());
        Poll::Ready(c.token())
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    slot.set(task).unwrap();
    runnable.run();
    assert_eq!((counter.created(), counter.dropped()), (1, 1));
    let task = Arc::into_inner(slot).unwrap().into_inner().unwrap();
    assert!(block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn cancel_after_completion_keeps_the_result() {
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(async { 9 }, Sched(q.clone()));
    runnable.run();
    assert!(!task.cancel());
    assert!(!task.is_cancelled());
    assert_eq!(block_on(task).unwrap(), 9);
}

#[test]
fn cancel_twice() {
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(std::future::pending::<()>(), Sched(q.clone()));
    runnable.run();
    assert!(task.cancel());
    assert!(
        !task.cancel(),
        "now finished (cancelled): nothing more to cancel"
    );
}

#[test]
fn dropping_an_unrun_runnable_cancels() {
    let counter = Counter::new();
    let token = counter.token();
    let (runnable, task) = corio_core::spawn(
        async move {
            let _t = token;
        },
        |_r| {},
    );
    drop(runnable);
    assert_eq!(counter.dropped(), 1);
    assert!(task.is_cancelled());
    assert!(block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn dropping_a_queued_runnable_at_shutdown_cancels() {
    let q = Queue::new();
    let gate = Gate::new();
    let (runnable, task) = corio_core::spawn(gate.wait(), Sched(q.clone()));
    runnable.run();
    gate.take_waker().unwrap().wake();
    assert_eq!(q.len(), 1);
    // Executor shutdown: the queue is dropped with the Runnable in it.
    q.runnables.lock().unwrap().clear();
    assert!(block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn cancel_wakes_the_awaiting_side() {
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(std::future::pending::<()>(), Sched(q.clone()));
    runnable.run();
    let task = Arc::new(Mutex::new(Some(task)));
    let (waker_state, waker) = common::counting_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    {
        let mut guard = task.lock().unwrap();
        let t = guard.as_mut().unwrap();
        assert!(std::pin::Pin::new(t).poll(&mut cx).is_pending());
    }
    let t2 = task.clone();
    let canceller = thread::spawn(move || assert!(t2.lock().unwrap().as_ref().unwrap().cancel()));
    join_timeout(canceller).unwrap();
    assert_eq!(
        waker_state.wakes.load(Ordering::SeqCst),
        1,
        "the join waker was woken once"
    );
    let mut t = task.lock().unwrap().take().unwrap();
    assert!(matches!(poll_once(&mut t), Poll::Ready(Err(e)) if e.is_cancelled()));
}

#[test]
fn the_future_is_dropped_before_the_task_resolves() {
    // The future's destructor looks at its own Task: it must not be finished yet.
    struct CheckOnDrop(Arc<OnceLock<Task<()>>>, Arc<AtomicUsize>);
    impl Drop for CheckOnDrop {
        fn drop(&mut self) {
            if let Some(task) = self.0.get() {
                if !task.is_finished() {
                    self.1.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
    for path in 0..3 {
        let q = Queue::new();
        let slot: Arc<OnceLock<Task<()>>> = Arc::default();
        let ok = Arc::new(AtomicUsize::new(0));
        let check = CheckOnDrop(slot.clone(), ok.clone());
        let gate = Gate::new();
        let wait = gate.wait();
        let (runnable, task) = corio_core::spawn(
            async move {
                let _c = check;
                wait.await
            },
            Sched(q.clone()),
        );
        slot.set(task).unwrap();
        match path {
            0 => drop(runnable), // shutdown
            1 => {
                runnable.run();
                slot.get().unwrap().cancel(); // idle cancel
            }
            _ => {
                runnable.run();
                gate.take_waker().unwrap().wake();
                slot.get().unwrap().cancel(); // cancel while queued
                q.run_all();
            }
        }
        assert_eq!(ok.load(Ordering::SeqCst), 1, "path {path}");
        let task = Arc::into_inner(slot).unwrap().into_inner().unwrap();
        assert!(block_on(task).unwrap_err().is_cancelled());
    }
}
