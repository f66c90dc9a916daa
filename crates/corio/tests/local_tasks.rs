//! `corio::create_local_task`: `!Send` futures (`Rc`/`RefCell` state, as ported
//! asyncio code keeps it) run on the thread that spawned them, are woken home from
//! any thread, are never stolen, and are dropped at home; and the current-thread
//! flavor of the runtime.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use common::timeout;
use corio::sync::Event;
use futures::channel::oneshot;

/// Records the thread its `Drop` runs on.
struct DropSpy(Arc<Mutex<Vec<ThreadId>>>);

impl Drop for DropSpy {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(thread::current().id());
    }
}

/// Fails the test if polled on any thread but `home`; counts polls in `Rc` state.
async fn on_home<F: std::future::Future>(home: ThreadId, fut: F) -> (F::Output, u32) {
    let polls = Rc::new(RefCell::new(0u32));
    let p = polls.clone();
    let mut fut = std::pin::pin!(fut);
    let out = std::future::poll_fn(move |cx| {
        assert_eq!(
            thread::current().id(),
            home,
            "a local task polled away from home"
        );
        *p.borrow_mut() += 1;
        fut.as_mut().poll(cx)
    })
    .await;
    let n = *polls.borrow();
    (out, n)
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn runs_in_run_s_main_future_woken_from_a_std_thread() {
    timeout(60, || {
        corio::run(async {
            let me = thread::current().id();
            let state = Rc::new(RefCell::new(Vec::new()));
            let (tx, rx) = oneshot::channel();
            let s = state.clone();
            let task = corio::create_local_task(on_home(me, async move {
                s.borrow_mut().push("started");
                let v: u32 = rx.await.unwrap();
                s.borrow_mut().push("woken");
                v * 2
            }));
            let sender = thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                tx.send(21).unwrap();
            });
            let (out, polls) = task.await.unwrap();
            sender.join().unwrap();
            assert_eq!(out, 42);
            assert!(polls >= 2, "woken once at least");
            assert_eq!(*state.borrow(), ["started", "woken"]);
        });
    });
}

#[test]
fn runs_on_the_spawning_worker_woken_by_an_event_set_on_another_worker() {
    timeout(60, || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        rt.block_on(async {
            for _ in 0..20 {
                let event = Arc::new(Event::new());
                let e = event.clone();
                let outer = corio::create_task(async move {
                    let me = thread::current().id();
                    let local = corio::create_local_task(on_home(me, async move {
                        let counter = Rc::new(RefCell::new(0));
                        e.wait().await;
                        *counter.borrow_mut() += 1;
                        let n = *counter.borrow();
                        n
                    }));
                    local.await.unwrap().0
                });
                // Set from another task, on whichever worker runs it.
                corio::create_task(async move {
                    corio::sleep(Duration::from_millis(1)).await;
                    event.set();
                })
                .await
                .unwrap();
                assert_eq!(outer.await.unwrap(), 1);
            }
        });
    });
}

#[test]
fn a_local_task_is_a_task_named_listed_and_cancellable() {
    timeout(60, || {
        corio::run(async {
            let dropped = Arc::new(Mutex::new(Vec::new()));
            let spy = DropSpy(dropped.clone());
            let rc = Rc::new(());
            let task = corio::TaskBuilder::new()
                .name("pinned")
                .spawn_local(async move {
                    let _spy = spy;
                    let _rc = rc;
                    corio::sleep(Duration::from_secs(3600)).await;
                });
            corio::yield_now().await;
            assert_eq!(task.name(), Some("pinned"));
            assert!(corio::all_tasks()
                .iter()
                .any(|t| t.name() == Some("pinned")));
            assert!(!task.done());
            assert!(task.cancel());
            let err = task.await.unwrap_err();
            assert!(err.is_cancelled());
            assert_eq!(*dropped.lock().unwrap(), vec![thread::current().id()]);
            assert!(!corio::all_tasks()
                .iter()
                .any(|t| t.name() == Some("pinned")));
        });
    });
}

#[test]
fn cancelled_from_another_thread_it_is_dropped_at_home() {
    timeout(60, || {
        corio::run(async {
            let dropped = Arc::new(Mutex::new(Vec::new()));
            let spy = DropSpy(dropped.clone());
            let task = corio::create_local_task(async move {
                let _spy = spy;
                let _rc = Rc::new(());
                std::future::pending::<()>().await
            });
            corio::yield_now().await;
            // `Task<()>` is Send: cancel it from a plain thread.
            let task = thread::spawn(move || {
                assert!(task.cancel());
                task
            })
            .join()
            .unwrap();
            assert!(task.await.unwrap_err().is_cancelled());
            assert_eq!(*dropped.lock().unwrap(), vec![thread::current().id()]);
        });
    });
}

#[test]
fn a_panicking_local_task_reports_its_panic() {
    timeout(60, || {
        corio::run(async {
            let task = corio::create_local_task(async {
                let _rc = Rc::new(());
                panic!("local boom");
            });
            let err = task.await.unwrap_err();
            assert!(err.is_panic());
            assert_eq!(err.panic_message(), Some("local boom"));
        });
    });
}

#[test]
fn shutdown_drops_pending_local_tasks_on_their_threads_and_does_not_hang() {
    timeout(60, || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let homes = Arc::new(Mutex::new(Vec::new()));
        let (d, h) = (dropped.clone(), homes.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let main_thread = thread::current().id();
        rt.block_on(async move {
            // On the block_on thread: dropped when block_on returns.
            let spy = DropSpy(d.clone());
            corio::create_local_task(async move {
                let _spy = spy;
                std::future::pending::<()>().await
            })
            .detach();
            // On the workers: dropped at shutdown, by the worker that runs them.
            let mut spawners = Vec::new();
            for _ in 0..4 {
                let (d, h) = (d.clone(), h.clone());
                // No await before the local tasks are made: they live where this started.
                spawners.push(corio::create_task(async move {
                    h.lock().unwrap().push(thread::current().id());
                    for _ in 0..5 {
                        let spy = DropSpy(d.clone());
                        corio::create_local_task(async move {
                            let _spy = spy;
                            let _rc = Rc::new(());
                            corio::sleep(Duration::from_secs(3600)).await;
                        })
                        .detach();
                    }
                }));
            }
            // One parked on a waker a plain thread uses during the shutdown.
            corio::create_task(async move {
                h.lock().unwrap().push(thread::current().id());
                let spy = DropSpy(d);
                corio::create_local_task(async move {
                    let _spy = spy;
                    let _ = rx.await;
                })
                .detach();
            })
            .await
            .unwrap();
            for s in spawners {
                s.await.unwrap();
            }
            corio::sleep(Duration::from_millis(10)).await;
        });
        assert_eq!(
            *dropped.lock().unwrap(),
            vec![main_thread],
            "the block_on thread's local task is dropped when block_on returns"
        );
        let waker = thread::spawn(move || {
            let _ = tx.send(());
        });
        assert!(rt.shutdown_timeout(Duration::from_secs(30)));
        waker.join().unwrap();
        let dropped = dropped.lock().unwrap();
        assert_eq!(dropped.len(), 1 + 4 * 5 + 1, "every local future dropped");
        let homes = homes.lock().unwrap();
        for t in dropped.iter().skip(1) {
            assert_ne!(*t, main_thread);
            assert!(homes.contains(t), "dropped on the worker that spawned it");
        }
    });
}

/// Heavy stealing (2 workers, spawners and busy normal tasks migrating between
/// them): every poll of every local task is on the worker that spawned it.
#[test]
fn local_tasks_are_never_run_by_another_worker() {
    timeout(120, || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        rt.block_on(async move {
            let mut spawners = Vec::new();
            for _ in 0..8 {
                let p = p.clone();
                spawners.push(corio::create_task(async move {
                    let mut locals = Vec::new();
                    let mut normals = Vec::new();
                    for i in 0..40 {
                        let me = thread::current().id();
                        let p = p.clone();
                        locals.push(corio::create_local_task(on_home(me, async move {
                            let state = Rc::new(RefCell::new(0));
                            for _ in 0..10 {
                                *state.borrow_mut() += 1;
                                p.fetch_add(1, SeqCst);
                                if i % 2 == 0 {
                                    corio::yield_now().await;
                                } else {
                                    // Woken by the timer thread or another worker.
                                    corio::sleep(Duration::from_micros(50)).await;
                                }
                            }
                            let n = *state.borrow();
                            n
                        })));
                        normals.push(corio::create_task(async {
                            for _ in 0..10 {
                                corio::yield_now().await;
                            }
                        }));
                        if i % 8 == 0 {
                            // Let the other worker steal this spawner.
                            corio::yield_now().await;
                        }
                    }
                    for t in locals {
                        assert_eq!(t.await.unwrap().0, 10);
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
        assert_eq!(polls.load(SeqCst), 8 * 40 * 10);
    });
}

#[test]
fn outside_a_runtime_it_panics_saying_what_to_do() {
    let err = thread::spawn(|| {
        drop(corio::create_local_task(async {}));
    })
    .join()
    .unwrap_err();
    let msg = panic_text(&*err);
    assert!(msg.contains("create_local_task"), "{msg}");
    assert!(msg.contains("corio::run"), "{msg}");
    assert!(msg.contains("Handle::create_task"), "{msg}");
}

#[test]
fn in_a_to_thread_closure_it_panics_saying_what_to_do() {
    timeout(60, || {
        corio::run(async {
            let err = corio::to_thread(|| {
                std::panic::catch_unwind(|| {
                    drop(corio::create_local_task(async {}));
                })
            })
            .await
            .unwrap()
            .unwrap_err();
            let msg = panic_text(&*err);
            assert!(msg.contains("to_thread"), "{msg}");
        });
    });
}

#[test]
fn current_thread_runs_tasks_timers_io_and_to_thread_from_the_block_on_thread() {
    timeout(60, || {
        let rt = corio::Runtime::builder().current_thread().build().unwrap();
        let me = thread::current().id();
        rt.block_on(async move {
            // Tasks and timers.
            let t = corio::create_task(async {
                corio::sleep(Duration::from_millis(5)).await;
                thread::current().id()
            });
            assert_eq!(t.await.unwrap(), me);
            // I/O: an echo over loopback TCP, server and client tasks on this thread.
            let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = corio::create_task(async move {
                let (s, _) = listener.accept().await.unwrap();
                let mut buf = [0; 5];
                s.read_exact(&mut buf).await.unwrap();
                s.write_all(&buf).await.unwrap();
                thread::current().id()
            });
            let c = corio::net::TcpStream::connect(addr).await.unwrap();
            c.write_all(b"hello").await.unwrap();
            let mut buf = [0; 5];
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");
            assert_eq!(server.await.unwrap(), me);
            // Blocking work still goes to the blocking pool, and its result wakes us.
            let worker = corio::to_thread(|| thread::current().id()).await.unwrap();
            assert_ne!(worker, me);
            // Local tasks, woken by a plain thread.
            let (tx, rx) = oneshot::channel();
            let local = corio::create_local_task(on_home(me, async move { rx.await.unwrap() }));
            thread::spawn(move || tx.send(7u8).unwrap()).join().unwrap();
            assert_eq!(local.await.unwrap().0, 7);
        });
        // Spawned from another thread between two block_on calls: runs in the next.
        let h = rt.handle();
        let t = thread::spawn(move || h.create_task(async { thread::current().id() }))
            .join()
            .unwrap();
        assert_eq!(rt.block_on(t).unwrap(), me);
    });
}

#[test]
fn current_thread_shutdown_cancels_pending_tasks_without_hanging() {
    timeout(60, || {
        let rt = corio::Runtime::builder().current_thread().build().unwrap();
        let sleeper = rt
            .handle()
            .create_task(corio::sleep(Duration::from_secs(3600)));
        rt.block_on(corio::sleep(Duration::from_millis(1)));
        assert!(rt.shutdown_timeout(Duration::from_secs(10)));
        assert!(sleeper.wait_blocking().unwrap_err().is_cancelled());
    });
}

/// Inside a corio::sim simulation a local task is pinned to the simulated worker
/// that spawned it (tests/sim_api.rs checks the pinning in the trace).
#[cfg(feature = "sim")]
#[test]
fn in_a_simulation_it_runs_on_the_simulated_worker() {
    corio::sim::check(|| async {
        let shared = std::rc::Rc::new(std::cell::Cell::new(0));
        let s = shared.clone();
        let t = corio::create_local_task(async move {
            corio::yield_now().await;
            s.set(s.get() + 1);
        });
        t.await.unwrap();
        assert_eq!(shared.get(), 1);
    });
}
