//! Local tasks (`spawn_local`): `!Send` futures run and are dropped only on the thread
//! that spawned them, are never stolen, and are woken home from any thread.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::{with_timeout, yield_now};
use corio_scheduler::{spawn_local, Builder, Handle};
use futures::channel::oneshot;

/// Records the thread its `Drop` runs on.
struct DropSpy(Arc<Mutex<Vec<ThreadId>>>);

impl Drop for DropSpy {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(thread::current().id());
    }
}

/// A `!Send` future that checks its thread at every poll: waits for `rx` (sent from
/// elsewhere), then returns how many polls it took, through `Rc<RefCell<..>>` state.
async fn pinned_waiter(home: ThreadId, rx: oneshot::Receiver<u32>) -> u32 {
    let state = Rc::new(RefCell::new(0u32));
    let polls = state.clone();
    let checked = futures::future::poll_fn(move |_| {
        assert_eq!(thread::current().id(), home, "polled away from home");
        *polls.borrow_mut() += 1;
        std::task::Poll::Ready(())
    });
    checked.await;
    let value = rx.await.expect("sender kept");
    assert_eq!(thread::current().id(), home, "resumed away from home");
    *state.borrow_mut() += value;
    let total = *state.borrow();
    total
}

#[test]
fn block_on_runs_a_local_task_woken_from_another_thread() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let out = ex.block_on(async {
            let me = thread::current().id();
            let (tx, rx) = oneshot::channel();
            let task = spawn_local(pinned_waiter(me, rx));
            let sender = thread::spawn(move || {
                thread::sleep(Duration::from_millis(10));
                tx.send(41).unwrap();
            });
            let out = task.await.unwrap();
            sender.join().unwrap();
            out
        });
        assert_eq!(out, 42);
    });
}

#[test]
fn a_local_task_spawned_in_a_task_stays_on_that_worker() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let handle = ex.handle().clone();
        let out = ex.block_on(async move {
            let (tx, rx) = oneshot::channel();
            // Woken by a task that may run on the other worker.
            let waker_task = handle.spawn(async move {
                yield_now().await;
                tx.send(1).unwrap();
            });
            let outer = handle.spawn(async move {
                let me = thread::current().id();
                let local = spawn_local(pinned_waiter(me, rx));
                (local.await.unwrap(), me)
            });
            waker_task.await.unwrap();
            outer.await.unwrap()
        });
        assert_eq!(out.0, 2);
    });
}

#[test]
fn a_local_task_can_be_cancelled_from_another_thread_and_drops_at_home() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let d = dropped.clone();
        let home = ex.block_on(async move {
            let spy = DropSpy(d);
            let not_send = Rc::new(());
            let task = spawn_local(async move {
                let _spy = spy;
                let _rc = not_send;
                std::future::pending::<()>().await
            });
            yield_now().await; // let it start
            let task = thread::spawn(move || {
                assert!(task.cancel());
                task
            })
            .join()
            .unwrap();
            assert!(task.await.unwrap_err().is_cancelled());
            thread::current().id()
        });
        assert_eq!(*dropped.lock().unwrap(), vec![home]);
    });
}

#[test]
fn pending_local_tasks_are_dropped_at_home_when_block_on_returns() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let d = dropped.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let [task] = ex.block_on(async move {
            let spy = DropSpy(d);
            let task = spawn_local(async move {
                let _spy = spy;
                let _ = rx.await;
                Rc::new(1)
            });
            yield_now().await;
            // Keep the handle (in an array: not awaited here); its output is !Send,
            // so it stays on this thread.
            [task]
        });
        assert_eq!(*dropped.lock().unwrap(), vec![thread::current().id()]);
        // A wake-up after the close is harmless: the future is gone.
        let _ = tx.send(());
        assert!(futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled());
    });
}

#[test]
fn shutdown_drops_a_worker_s_local_tasks_on_that_worker_and_does_not_hang() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(AtomicUsize::new(0));
        let (d, s) = (dropped.clone(), started.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let homes = ex.block_on(ex.spawn(async move {
            let me = thread::current().id();
            let mut tasks = Vec::new();
            for _ in 0..10 {
                let spy = DropSpy(d.clone());
                let s = s.clone();
                tasks.push(spawn_local(async move {
                    let _spy = spy;
                    s.fetch_add(1, SeqCst);
                    std::future::pending::<()>().await
                }));
            }
            // One more, parked on a waker that a thread uses during the shutdown.
            let spy = DropSpy(d);
            spawn_local(async move {
                let _spy = spy;
                let _ = rx.await;
            })
            .detach();
            while s.load(SeqCst) < 10 {
                yield_now().await;
            }
            for t in tasks {
                t.detach();
            }
            me
        }));
        let homes = homes.unwrap();
        let waker_thread = thread::spawn(move || {
            let _ = tx.send(());
        });
        assert!(ex.shutdown_timeout(Duration::from_secs(20)));
        waker_thread.join().unwrap();
        let dropped = dropped.lock().unwrap();
        assert_eq!(dropped.len(), 11, "every local future dropped");
        assert!(
            dropped.iter().all(|&t| t == homes),
            "dropped on the home worker"
        );
    });
}

#[test]
fn current_thread_flavor_runs_local_tasks_on_the_block_on_thread() {
    with_timeout(30, || {
        let ex = Builder::new().current_thread().build().unwrap();
        let handle = ex.handle().clone();
        let me = thread::current().id();
        let out = ex.block_on(async move {
            let (tx, rx) = oneshot::channel();
            let local = spawn_local(pinned_waiter(me, rx));
            // A normal task (same thread here) and a plain thread both wake locals.
            let (tx2, rx2) = oneshot::channel();
            let other = spawn_local(pinned_waiter(me, rx2));
            handle
                .spawn(async move {
                    tx.send(1).unwrap();
                })
                .await
                .unwrap();
            thread::spawn(move || tx2.send(2).unwrap()).join().unwrap();
            local.await.unwrap() + other.await.unwrap()
        });
        assert_eq!(out, 5);
    });
}

#[test]
fn spawn_local_outside_an_executor_panics_with_advice() {
    let err = thread::spawn(|| {
        drop(spawn_local(async {}));
    })
    .join()
    .unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("spawn_local"), "{msg}");
    assert!(msg.contains("inside a task"), "{msg}");
}

/// Many local and normal tasks on 2 workers with heavy stealing: every poll of a
/// local task happens on its home worker.
#[test]
fn local_tasks_are_never_stolen_under_load() {
    with_timeout(60, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let handle = ex.handle().clone();
        let wrong = Arc::new(AtomicUsize::new(0));
        let polls = Arc::new(AtomicUsize::new(0));
        let (w, p) = (wrong.clone(), polls.clone());
        ex.block_on(async move {
            let mut spawners = Vec::new();
            for _ in 0..8 {
                let (w, p, h) = (w.clone(), p.clone(), handle.clone());
                spawners.push(handle.spawn(async move {
                    let mut locals = Vec::new();
                    let mut normals = Vec::new();
                    for _ in 0..50 {
                        let home = thread::current().id();
                        let (w, p) = (w.clone(), p.clone());
                        let not_send = Rc::new(RefCell::new(0));
                        locals.push(spawn_local(async move {
                            for _ in 0..20 {
                                if thread::current().id() != home {
                                    w.fetch_add(1, SeqCst);
                                }
                                *not_send.borrow_mut() += 1;
                                p.fetch_add(1, SeqCst);
                                yield_now().await;
                            }
                        }));
                        // Busy normal tasks keep the queues full so the other worker steals.
                        normals.push(h.spawn(async {
                            for _ in 0..20 {
                                yield_now().await;
                            }
                        }));
                    }
                    for t in locals {
                        t.await.unwrap();
                    }
                    for t in normals {
                        t.await.unwrap();
                    }
                }));
            }
            for s in spawners {
                s.await.unwrap();
            }
        });
        assert_eq!(polls.load(SeqCst), 8 * 50 * 20);
        assert_eq!(
            wrong.load(SeqCst),
            0,
            "a local task was polled away from home"
        );
        assert!(Handle::try_current().is_none());
    });
}
