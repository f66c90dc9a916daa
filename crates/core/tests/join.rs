//! The join handle: results, join-waker registration, metadata, `current()` and the
//! cooperative budget.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread;

use common::{block_on, counting_waker, join_timeout, poll_once, Gate, Queue, Sched};
use corio_core::{coop, Builder};

#[test]
fn awaiting_a_task_from_another_thread() {
    let q = Queue::new();
    let gate = Gate::new();
    let wait = gate.wait();
    let (runnable, task) = corio_core::spawn(
        async move {
            wait.await;
            "hello".to_string()
        },
        Sched(q.clone()),
    );
    runnable.run();
    let joiner = thread::spawn(move || block_on(task).unwrap());
    gate.open();
    q.run_all();
    assert_eq!(join_timeout(joiner).unwrap(), "hello");
}

#[test]
fn only_the_latest_join_waker_is_woken() {
    let q = Queue::new();
    let gate = Gate::new();
    let (runnable, mut task) = corio_core::spawn(gate.wait(), Sched(q.clone()));
    runnable.run();
    let (a_state, a) = counting_waker();
    let (b_state, b) = counting_waker();
    assert!(Pin::new(&mut task)
        .poll(&mut Context::from_waker(&a))
        .is_pending());
    assert!(
        Pin::new(&mut task)
            .poll(&mut Context::from_waker(&a))
            .is_pending(),
        "same waker again: kept"
    );
    assert!(Pin::new(&mut task)
        .poll(&mut Context::from_waker(&b))
        .is_pending());
    gate.open();
    q.run_all();
    assert_eq!(a_state.wakes.load(Ordering::SeqCst), 0);
    assert_eq!(b_state.wakes.load(Ordering::SeqCst), 1);
    assert!(matches!(poll_once(&mut task), Poll::Ready(Ok(()))));
}

#[test]
#[should_panic(expected = "polled after it had already returned")]
fn polling_after_completion_panics() {
    let (runnable, mut task) = corio_core::spawn(async { 1 }, |_r| {});
    runnable.run();
    assert!(poll_once(&mut task).is_ready());
    let _ = poll_once(&mut task);
}

#[test]
fn dropping_the_task_detaches_and_the_task_still_runs() {
    let q = Queue::new();
    let done = Arc::new(Mutex::new(false));
    let d = done.clone();
    let (runnable, task) =
        corio_core::spawn(async move { *d.lock().unwrap() = true }, Sched(q.clone()));
    drop(task);
    runnable.run();
    assert!(*done.lock().unwrap());
}

#[test]
fn metadata_and_ids() {
    let (r1, t1) = corio_core::spawn(async {}, |_r| {});
    let (r2, t2) = Builder::new()
        .name(String::from("named"))
        .location(std::panic::Location::caller())
        .spawn(async {}, |_r| {});
    assert_ne!(t1.id(), t2.id());
    assert!(t2.id() > t1.id(), "ids increase");
    assert_eq!(r1.id(), t1.id());
    assert_eq!(t1.meta().name(), None);
    assert_eq!(r2.meta().name(), Some("named"));
    assert_eq!(t2.meta().location().unwrap().file(), file!());
    assert_eq!(t1.id().to_string(), t1.id().as_u64().to_string());
    let shown = t2.meta().to_string();
    assert!(
        shown.contains("'named'") && shown.contains("join.rs"),
        "{shown}"
    );
    assert!(format!("{r2:?}").contains("named"));
    assert!(format!("{t2:?}").contains("named"));
}

#[test]
fn current_is_set_during_run_only_and_nests() {
    let q = Queue::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let (inner_runnable, inner_task) = Builder::new().name("inner").spawn(
        {
            let s = s.clone();
            async move {
                s.lock()
                    .unwrap()
                    .push(corio_core::current().map(|c| c.name().map(str::to_string)))
            }
        },
        Sched(q.clone()),
    );
    let inner_runnable = Mutex::new(Some(inner_runnable));
    let (outer, outer_task) = Builder::new().name("outer").spawn(
        async move {
            s.lock()
                .unwrap()
                .push(corio_core::current().map(|c| c.name().map(str::to_string)));
            // A nested run (like a block_on inside a task) sees its own task, then ours again.
            let r = inner_runnable.lock().unwrap().take().unwrap();
            r.run();
            s.lock()
                .unwrap()
                .push(corio_core::current().map(|c| c.name().map(str::to_string)));
        },
        Sched(q.clone()),
    );
    assert!(corio_core::current().is_none());
    outer.run();
    assert!(corio_core::current().is_none());
    let name = |n: &str| Some(Some(n.to_string()));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![name("outer"), name("inner"), name("outer")]
    );
    assert!(block_on(outer_task).is_ok() && block_on(inner_task).is_ok());
}

#[test]
fn the_budget_makes_an_always_ready_task_yield() {
    let q = Queue::new();
    let mut ops = 0u32;
    let mut polls = 0u32;
    let fut = std::future::poll_fn(move |cx| {
        polls += 1;
        loop {
            if coop::poll_proceed(cx).is_pending() {
                assert!(!coop::has_budget_remaining());
                return Poll::Pending;
            }
            ops += 1;
            if ops == 300 {
                return Poll::Ready(polls);
            }
        }
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    assert!(runnable.run(), "budget spent: the task rescheduled itself");
    let (r, info) = q.pop().unwrap();
    assert!(
        info.woken_while_running,
        "goes to the back of the queue, not a LIFO slot"
    );
    assert!(r.run());
    q.run_all();
    // 300 operations at 128 per poll: 3 polls.
    assert_eq!(block_on(task).unwrap(), 3);
}

#[test]
fn budget_is_128_per_run_and_absent_outside() {
    assert!(coop::has_budget_remaining());
    let (_, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..1000 {
        assert!(
            coop::poll_proceed(&mut cx).is_ready(),
            "no budget outside a task"
        );
    }
    let q = Queue::new();
    let fut = std::future::poll_fn(|cx| {
        let mut n = 0;
        while coop::poll_proceed(cx).is_ready() {
            n += 1;
        }
        Poll::Ready(n)
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    // Exhausting the budget woke the task, but it completed in the same poll: the owed
    // reschedule is dropped, not queued.
    assert!(!runnable.run());
    assert_eq!(q.len(), 0);
    assert_eq!(block_on(task).unwrap(), 128);
}

#[test]
fn current_is_the_cancelled_task_while_its_future_drops() {
    struct Probe(Arc<Mutex<Option<corio_core::TaskId>>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = corio_core::current().map(|c| c.id());
        }
    }
    let seen = Arc::new(Mutex::new(None));
    let probe = Probe(seen.clone());
    let (runnable, task) = corio_core::spawn(
        async move {
            let _p = probe;
            std::future::pending::<()>().await
        },
        |_r| {},
    );
    runnable.run();
    assert!(task.cancel());
    assert_eq!(*seen.lock().unwrap(), Some(task.id()));
    assert!(corio_core::current().is_none(), "restored after the drop");
}
