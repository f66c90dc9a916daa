//! `spawn_local`: `!Send` futures stay on their spawning thread, which alone polls and drops
//! them; other threads may wake, cancel and drop handles safely.

mod common;

use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};

use common::{block_on, join_timeout, Gate, Queue, Sched};

struct DropSpy(Arc<Mutex<Option<ThreadId>>>);
impl Drop for DropSpy {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(thread::current().id());
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn a_not_send_future_runs_on_its_thread() {
    let q = Queue::new();
    let rc = Rc::new(std::cell::Cell::new(0));
    let r2 = rc.clone();
    let gate = Gate::new();
    let wait = gate.wait();
    let (runnable, task) = corio_core::spawn_local(
        async move {
            r2.set(1);
            wait.await;
            r2.set(2);
            r2
        },
        Sched(q.clone()),
    );
    runnable.run();
    assert_eq!(rc.get(), 1);
    // Woken from another thread: the schedule function runs there, the Runnable is Send.
    let g = gate.clone();
    join_timeout(thread::spawn(move || g.open())).unwrap();
    q.run_all();
    assert_eq!(block_on(task).unwrap().get(), 2);
}

#[test]
#[cfg_attr(miri, ignore = "the task is deliberately leaked")]
fn running_on_another_thread_panics() {
    std::panic::set_hook(Box::new(|_| {}));
    let (runnable, task) = corio_core::spawn_local(async { Rc::new(1) }, |_r| {});
    let err = join_timeout(thread::spawn(move || runnable.run())).unwrap_err();
    assert!(
        panic_text(&*err).contains("spawning thread"),
        "{}",
        panic_text(&*err)
    );
    assert!(!task.is_finished());
    std::mem::forget(task);
}

#[test]
#[cfg_attr(miri, ignore = "the task is deliberately leaked")]
fn dropping_an_unrun_runnable_on_another_thread_panics() {
    std::panic::set_hook(Box::new(|_| {}));
    let (runnable, task) = corio_core::spawn_local(async { Rc::new(1) }, |_r| {});
    let err = join_timeout(thread::spawn(move || drop(runnable))).unwrap_err();
    assert!(panic_text(&*err).contains("spawning thread"));
    std::mem::forget(task);
}

#[test]
fn cancel_from_another_thread_lets_the_owner_drop_the_future() {
    let q = Queue::new();
    let dropped_on = Arc::new(Mutex::new(None));
    let spy = DropSpy(dropped_on.clone());
    let not_send = Rc::new(());
    let (runnable, task) = corio_core::spawn_local(
        async move {
            let _spy = spy;
            let _rc = not_send;
            std::future::pending::<()>().await
        },
        Sched(q.clone()),
    );
    runnable.run();
    let task = join_timeout(thread::spawn(move || {
        assert!(task.cancel());
        assert!(!task.is_finished(), "the owner has not dropped it yet");
        task
    }))
    .unwrap();
    assert!(dropped_on.lock().unwrap().is_none());
    assert_eq!(
        q.len(),
        1,
        "handed to the owner through the schedule function"
    );
    q.run_all();
    assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
    assert!(block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn cancel_on_the_owner_thread_drops_at_once() {
    let q = Queue::new();
    let dropped_on = Arc::new(Mutex::new(None));
    let spy = DropSpy(dropped_on.clone());
    let (runnable, task) = corio_core::spawn_local(
        async move {
            let _spy = spy;
            std::future::pending::<()>().await
        },
        Sched(q.clone()),
    );
    runnable.run();
    assert!(task.cancel());
    assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
    assert_eq!(q.len(), 0);
}

#[test]
fn last_reference_dropped_elsewhere_sends_the_future_home() {
    let q = Queue::new();
    let dropped_on = Arc::new(Mutex::new(None));
    let spy = DropSpy(dropped_on.clone());
    let gate = Gate::new();
    let wait = gate.wait();
    let (runnable, task) = corio_core::spawn_local(
        async move {
            let _spy = spy;
            wait.await
        },
        Sched(q.clone()),
    );
    runnable.run();
    drop(task);
    let waker = gate.take_waker().unwrap();
    join_timeout(thread::spawn(move || drop(waker))).unwrap();
    assert!(dropped_on.lock().unwrap().is_none());
    assert_eq!(q.len(), 1);
    q.run_all();
    assert_eq!(*dropped_on.lock().unwrap(), Some(thread::current().id()));
}

#[test]
fn dropping_a_local_runnable_on_its_thread_cancels() {
    let (runnable, task) = corio_core::spawn_local(async { Rc::new(5) }, |_r| {});
    drop(runnable);
    assert!(block_on(task).unwrap_err().is_cancelled());
}
