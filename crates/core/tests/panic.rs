//! Panics: caught in `Runnable::run` (never unwinding into the executor), reported as
//! a panicked `TaskError`, and handed to `Schedule::unhandled_panic` when nobody will see them.

mod common;

use std::task::Poll;

use common::{block_on, Counter, Gate, Queue, Sched};
use corio_core::{Builder, TaskError};

fn quiet_panics() {
    // The default hook prints every caught panic; these are expected.
    std::panic::set_hook(Box::new(|_| {}));
}

#[test]
fn a_panic_in_poll_is_caught_and_returned() {
    quiet_panics();
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(async { panic!("boom") }, Sched(q.clone()));
    assert!(!runnable.run(), "run returns normally");
    let id = task.id();
    let err = block_on(task).unwrap_err();
    assert!(err.is_panic() && !err.is_cancelled());
    assert_eq!(err.id(), id);
    assert_eq!(err.panic_message(), Some("boom"));
    assert_eq!(err.to_string(), format!("task {id} panicked: boom"));
    assert_eq!(
        format!("{err:?}"),
        format!("TaskError::Panicked({id}, \"boom\")")
    );
    let payload = err.into_panic();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "boom");
    assert!(q.panic_messages().is_empty(), "retrieved: not unhandled");
}

#[test]
fn a_panic_with_a_string_payload_has_its_message() {
    quiet_panics();
    let (runnable, task) = corio_core::spawn(async { panic!("code {}", 7) }, |_r| {});
    runnable.run();
    let id = task.id();
    assert_eq!(
        block_on(task).unwrap_err().to_string(),
        format!("task {id} panicked: code 7")
    );
}

#[test]
fn a_detached_task_panic_goes_to_the_hook() {
    quiet_panics();
    let q = Queue::new();
    let (runnable, task) = Builder::new()
        .name("lonely")
        .spawn(async { panic!("nobody listens") }, Sched(q.clone()));
    task.detach();
    runnable.run();
    let panics = q.panics.lock().unwrap().clone();
    assert_eq!(
        panics,
        vec![("nobody listens".to_string(), Some("lonely".to_string()))]
    );
}

#[test]
fn dropping_a_task_holding_a_panic_calls_the_hook() {
    quiet_panics();
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(async { panic!("unretrieved") }, Sched(q.clone()));
    runnable.run();
    assert!(q.panic_messages().is_empty(), "the Task may still read it");
    drop(task);
    assert_eq!(q.panic_messages(), vec!["unretrieved".to_string()]);
}

#[test]
fn a_panic_in_the_future_drop_after_completion_is_contained() {
    quiet_panics();
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    // A future whose *own* destructor panics after it returned Ready (an async block would
    // drop its locals inside `poll`, which is a poll panic, tested above).
    let q = Queue::new();
    struct ReadyThenPanicOnDrop(PanicOnDrop);
    impl std::future::Future for ReadyThenPanicOnDrop {
        type Output = u8;
        fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> Poll<u8> {
            Poll::Ready(3)
        }
    }
    let (runnable, task) = corio_core::spawn(ReadyThenPanicOnDrop(PanicOnDrop), Sched(q.clone()));
    runnable.run();
    assert_eq!(
        block_on(task).unwrap(),
        3,
        "the output is good; the drop panic is reported"
    );
    assert_eq!(q.panic_messages(), vec!["drop boom".to_string()]);
}

#[test]
fn a_panic_in_the_future_drop_during_cancel_is_contained() {
    quiet_panics();
    struct PendingPanicOnDrop;
    impl std::future::Future for PendingPanicOnDrop {
        type Output = ();
        fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }
    impl Drop for PendingPanicOnDrop {
        fn drop(&mut self) {
            panic!("cancel drop boom");
        }
    }
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(PendingPanicOnDrop, Sched(q.clone()));
    runnable.run();
    assert!(task.cancel(), "cancel does not unwind into the caller");
    assert!(block_on(task).unwrap_err().is_cancelled());
    assert_eq!(q.panic_messages(), vec!["cancel drop boom".to_string()]);

    // Same through a dropped Runnable (executor shutdown).
    let (runnable, task) = corio_core::spawn(PendingPanicOnDrop, Sched(q.clone()));
    drop(runnable);
    assert!(block_on(task).unwrap_err().is_cancelled());
    assert_eq!(q.panic_messages().len(), 2);
}

#[test]
fn a_panic_in_poll_then_in_drop_keeps_the_first() {
    quiet_panics();
    struct Both;
    impl std::future::Future for Both {
        type Output = ();
        fn poll(self: std::pin::Pin<&mut Self>, _cx: &mut std::task::Context<'_>) -> Poll<()> {
            panic!("poll boom")
        }
    }
    impl Drop for Both {
        fn drop(&mut self) {
            panic!("drop boom");
        }
    }
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(Both, Sched(q.clone()));
    runnable.run();
    assert_eq!(
        block_on(task).unwrap_err().panic_message(),
        Some("poll boom")
    );
    assert_eq!(q.panic_messages(), vec!["drop boom".to_string()]);
}

#[test]
fn a_panic_in_a_detached_output_drop_is_reported() {
    quiet_panics();
    struct Out;
    impl Drop for Out {
        fn drop(&mut self) {
            panic!("output drop boom");
        }
    }
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(async { Out }, Sched(q.clone()));
    drop(task);
    runnable.run();
    assert_eq!(q.panic_messages(), vec!["output drop boom".to_string()]);
}

#[test]
fn a_panicking_hook_is_contained() {
    quiet_panics();
    struct BadHook;
    impl corio_core::Schedule for BadHook {
        fn schedule(&self, _r: corio_core::Runnable, _i: corio_core::ScheduleInfo) {}
        fn unhandled_panic(&self, _t: &corio_core::TaskMeta, _p: Box<dyn std::any::Any + Send>) {
            panic!("hook boom");
        }
    }
    let (runnable, task) = corio_core::spawn(async { panic!("first") }, BadHook);
    drop(task);
    assert!(!runnable.run());
}

#[test]
fn a_panic_after_cancel_resolves_cancelled_and_reports_the_panic() {
    quiet_panics();
    let q = Queue::new();
    let slot: std::sync::Arc<std::sync::OnceLock<corio_core::Task<()>>> = Default::default();
    let s = slot.clone();
    let fut = std::future::poll_fn(move |_cx| -> Poll<()> {
        s.get().unwrap().cancel();
        panic!("late")
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    slot.set(task).unwrap();
    runnable.run();
    let task = std::sync::Arc::into_inner(slot)
        .unwrap()
        .into_inner()
        .unwrap();
    assert!(block_on(task).unwrap_err().is_cancelled());
    assert_eq!(q.panic_messages(), vec!["late".to_string()]);
}

#[test]
fn into_panic_on_a_cancelled_error_panics_with_advice() {
    quiet_panics();
    let (runnable, task) = corio_core::spawn(async {}, |_r| {});
    task.cancel();
    drop(runnable);
    let cancelled = block_on(task).unwrap_err();
    let id = cancelled.id();
    let err = std::panic::catch_unwind(|| cancelled.into_panic()).unwrap_err();
    let msg = err
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .unwrap_or_else(|| err.downcast_ref::<String>().unwrap().clone());
    assert!(msg.contains("is_panic"), "{msg}");
    assert!(TaskError::cancelled(id)
        .try_into_panic()
        .unwrap_err()
        .is_cancelled());
}

#[test]
fn gate_based_panic_after_wake_is_caught() {
    quiet_panics();
    let q = Queue::new();
    let counter = Counter::new();
    let token = counter.token();
    let gate = Gate::new();
    let wait = gate.wait();
    let (runnable, task) = corio_core::spawn(
        async move {
            let _t = token;
            wait.await;
            panic!("after wake")
        },
        Sched(q.clone()),
    );
    runnable.run();
    gate.open();
    q.run_all();
    assert_eq!(counter.dropped(), 1);
    assert!(block_on(task).unwrap_err().is_panic());
}
