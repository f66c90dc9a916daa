//! The current-thread flavor: tasks run on the thread inside `block_on`.

mod common;

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use common::{with_timeout, yield_now};
use corio_scheduler::{Builder, Handle};

#[test]
fn tasks_run_on_the_block_on_thread() {
    with_timeout(30, || {
        let ex = Builder::new().current_thread().build().unwrap();
        let seen: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let seen = seen.clone();
                ex.spawn(async move {
                    yield_now().await;
                    seen.lock().unwrap().push(std::thread::current().id());
                })
            })
            .collect();
        ex.block_on(async {
            assert!(Handle::try_current().is_some());
            for t in tasks {
                t.await.unwrap();
            }
        });
        let me = std::thread::current().id();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().all(|&id| id == me));
        assert_eq!(ex.metrics().workers(), 1);
    });
}

#[test]
fn spawn_from_another_thread_wakes_block_on() {
    with_timeout(30, || {
        let ex = Builder::new().current_thread().build().unwrap();
        let handle = ex.handle().clone();
        let (tx, rx) = futures::channel::oneshot::channel();
        let spawner = std::thread::spawn(move || {
            let t = handle.spawn(async { 9 });
            tx.send(t).unwrap();
        });
        let v = ex.block_on(async { rx.await.unwrap().await.unwrap() });
        assert_eq!(v, 9);
        spawner.join().unwrap();
    });
}

#[test]
fn two_threads_in_block_on_take_turns() {
    with_timeout(30, || {
        let ex = Arc::new(Builder::new().current_thread().build().unwrap());
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let ex2 = ex.clone();
        let waiter = std::thread::spawn(move || ex2.block_on(async { rx.await.unwrap() }));
        let t = ex.spawn(async { 1 });
        let one = ex.block_on(t).unwrap();
        tx.send(one + 1).unwrap();
        assert_eq!(waiter.join().unwrap(), 2);
    });
}
