//! Shutdown: queued tasks are dropped (their Tasks resolve cancelled), threads are
//! joined, drops that spawn or wake do not deadlock, dropping the executor from
//! inside one of its tasks is a clear error.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::with_timeout;
use corio_scheduler::{Builder, Executor, Handle};

/// Counts drops of a task's future.
struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Current-thread flavor, nobody in `block_on`: 100,000 tasks stay queued; dropping
/// the executor drops every one of them and each Task resolves `Err(Cancelled)`.
#[test]
fn shutdown_drops_100_000_queued_tasks_current_thread() {
    with_timeout(60, || {
        const N: usize = 100_000;
        let ex = Builder::new().current_thread().build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let guard = CountDrop(drops.clone());
                let ran = ran.clone();
                ex.spawn(async move {
                    let _guard = guard;
                    ran.fetch_add(1, SeqCst);
                })
            })
            .collect();
        assert_eq!(ex.metrics().alive_tasks(), N);
        drop(ex);
        assert_eq!(drops.load(SeqCst), N, "every queued future dropped");
        assert_eq!(ran.load(SeqCst), 0);
        for t in tasks {
            assert!(t.is_cancelled());
            let err = futures::executor::block_on(t).unwrap_err();
            assert!(err.is_cancelled());
        }
    });
}

/// Multi-thread: the only worker is blocked, 100,000 tasks wait in the injector;
/// `shutdown_timeout(0)` drops them all before returning (the blocked worker is
/// detached, then released and exits on its own).
#[test]
fn shutdown_drops_100_000_queued_tasks_multi_thread() {
    with_timeout(60, || {
        const N: usize = 100_000;
        let stops = Arc::new(AtomicUsize::new(0));
        let s = stops.clone();
        let ex = Builder::new()
            .worker_threads(1)
            // The worker is blocked on purpose: no extra worker may run the queue.
            .stall_threshold(None)
            .on_thread_stop(move || {
                s.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        ex.spawn(async move {
            started_tx.send(()).unwrap();
            let _ = release_rx.recv(); // blocks the worker on purpose
        });
        started_rx.recv().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let guard = CountDrop(drops.clone());
                ex.spawn(async move {
                    let _guard = guard;
                })
            })
            .collect();
        assert_eq!(ex.metrics().injector_depth(), N);
        assert!(
            !ex.shutdown_timeout(Duration::ZERO),
            "the worker is still blocked"
        );
        assert_eq!(drops.load(SeqCst), N);
        assert!(tasks.iter().all(|t| t.is_cancelled()));
        release_tx.send(()).unwrap();
        // The detached worker exits on its own (and runs the stop callback).
        while stops.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
    });
}

/// Tasks whose drop spawns a new task and wakes another: shutdown still completes,
/// and every task (including the ones spawned or woken during the shutdown) is dropped.
#[test]
fn drops_that_spawn_and_wake_do_not_deadlock() {
    with_timeout(60, || {
        struct SpawnOnDrop {
            handle: Handle,
            drops: Arc<AtomicUsize>,
            waker: Arc<Mutex<Option<std::task::Waker>>>,
        }
        impl Drop for SpawnOnDrop {
            fn drop(&mut self) {
                self.drops.fetch_add(1, SeqCst);
                let guard = CountDrop(self.drops.clone());
                drop(self.handle.spawn(async move {
                    let _guard = guard;
                }));
                if let Some(w) = self.waker.lock().unwrap().take() {
                    w.wake();
                }
            }
        }
        const N: usize = 1_000;
        for current in [false, true] {
            let builder = Builder::new();
            let builder = if current {
                builder.current_thread()
            } else {
                builder.worker_threads(1)
            };
            let ex = builder.build().unwrap();
            let drops = Arc::new(AtomicUsize::new(0));
            let waker = Arc::new(Mutex::new(None));
            // A task that waits until a drop wakes it.
            let w = waker.clone();
            let sleeper_guard = CountDrop(drops.clone());
            let sleeper = ex.spawn(async move {
                let _g = sleeper_guard;
                std::future::poll_fn(|cx| {
                    *w.lock().unwrap() = Some(cx.waker().clone());
                    std::task::Poll::<()>::Pending
                })
                .await
            });
            let (release_tx, release_rx) = mpsc::channel::<()>();
            if !current {
                while waker.lock().unwrap().is_none() {
                    std::thread::yield_now();
                }
                // Block the only worker so that the next tasks stay queued.
                let (started_tx, started_rx) = mpsc::channel();
                ex.spawn(async move {
                    started_tx.send(()).unwrap();
                    let _ = release_rx.recv();
                });
                started_rx.recv().unwrap();
            }
            for _ in 0..N {
                let guard = SpawnOnDrop {
                    handle: ex.handle().clone(),
                    drops: drops.clone(),
                    waker: waker.clone(),
                };
                drop(ex.spawn(async move {
                    let _g = guard;
                    std::future::pending::<()>().await
                }));
            }
            ex.shutdown_timeout(Duration::ZERO);
            drop(release_tx);
            // N futures, the N tasks they spawned while dropping, and the sleeper (woken
            // by the first drop, or still queued in the current-thread flavor).
            assert_eq!(drops.load(SeqCst), 2 * N + 1, "current_thread: {current}");
            assert!(futures::executor::block_on(sleeper)
                .unwrap_err()
                .is_cancelled());
        }
    });
}

/// Dropping the executor from inside one of its own tasks: a panic with a clear
/// message inside that task (caught: the task resolves `Err(Panicked)`), the shutdown
/// still happens in the background, no hang.
#[test]
fn drop_from_inside_own_task_is_a_clear_error() {
    with_timeout(60, || {
        let stops = Arc::new(AtomicUsize::new(0));
        let s = stops.clone();
        let ex = Builder::new()
            .worker_threads(2)
            .on_thread_stop(move || {
                s.fetch_add(1, SeqCst);
            })
            .unhandled_panic(|_, _| {})
            .build()
            .unwrap();
        let slot: Arc<Mutex<Option<Executor>>> = Arc::new(Mutex::new(None));
        let (go_tx, go_rx) = futures::channel::oneshot::channel::<()>();
        let s = slot.clone();
        let task = ex.spawn(async move {
            go_rx.await.unwrap();
            let ex = s.lock().unwrap().take();
            drop(ex);
        });
        *slot.lock().unwrap() = Some(ex);
        go_tx.send(()).unwrap();
        let err = futures::executor::block_on(task).unwrap_err();
        let payload = err.into_panic();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(
            msg.contains("dropped from inside one of its own tasks"),
            "message: {msg}"
        );
        while stops.load(SeqCst) < 2 {
            std::thread::yield_now();
        }
    });
}

/// Spawning through a handle after shutdown returns an already-cancelled task.
#[test]
fn spawn_after_shutdown_is_cancelled() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let handle = ex.handle().clone();
        drop(ex);
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        struct SetOnDrop(Arc<AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, SeqCst);
            }
        }
        let guard = SetOnDrop(d);
        let task = handle.spawn(async move {
            let _g = guard;
        });
        assert!(task.is_cancelled());
        assert!(dropped.load(SeqCst));
        assert_eq!(handle.metrics().alive_tasks(), 0);
    });
}

/// Shutdown joins the worker threads: every stop callback has run when drop returns.
#[test]
fn drop_joins_workers() {
    with_timeout(30, || {
        let (starts, stops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, b) = (starts.clone(), stops.clone());
        let ex = Builder::new()
            .worker_threads(3)
            .on_thread_start(move || {
                a.fetch_add(1, SeqCst);
            })
            .on_thread_stop(move || {
                b.fetch_add(1, SeqCst);
            })
            .build()
            .unwrap();
        ex.block_on(ex.spawn(async {})).unwrap();
        assert!(ex.shutdown_timeout(Duration::from_secs(20)));
        assert_eq!(starts.load(SeqCst), 3);
        assert_eq!(stops.load(SeqCst), 3);
    });
}
