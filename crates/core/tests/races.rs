//! Races on real threads (loom explores the same ones exhaustively in `tests/loom.rs`):
//! cancel vs completion, Task drop vs completion, wakes vs runs on a multi-threaded executor.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::task::Poll;
use std::thread;

use common::{block_on, iters, join_timeout, Counter, Gate, Queue, Sched};
use corio_core::Runnable;

#[test]
fn cancel_racing_completion() {
    let futs = Counter::new();
    let outs = Counter::new();
    let (mut cancelled_wins, mut completed_wins) = (0, 0);
    for _ in 0..iters(500) {
        let held = futs.token();
        let o = outs.clone();
        let (runnable, task) = corio_core::spawn(
            async move {
                let _h = held;
                o.token()
            },
            |_r| {},
        );
        let task = Arc::new(task);
        let barrier = Arc::new(Barrier::new(2));
        let (t, b) = (task.clone(), barrier.clone());
        let canceller = thread::spawn(move || {
            b.wait();
            t.cancel()
        });
        barrier.wait();
        runnable.run();
        let cancelled = join_timeout(canceller).unwrap();
        let task = Arc::into_inner(task).unwrap();
        match block_on(task) {
            Err(e) => {
                assert!(
                    cancelled && e.is_cancelled(),
                    "Err only when cancel() returned true"
                );
                cancelled_wins += 1;
            }
            Ok(out) => {
                assert!(!cancelled, "cancel() returned true but the output was kept");
                drop(out);
                completed_wins += 1;
            }
        }
        assert_eq!(futs.live(), 0);
        assert_eq!(outs.live(), 0);
    }
    // Both outcomes are possible; which ones happened depends on the machine.
    assert_eq!(cancelled_wins + completed_wins, iters(500));
}

#[test]
fn task_drop_racing_completion() {
    let futs = Counter::new();
    let outs = Counter::new();
    for _ in 0..iters(500) {
        let held = futs.token();
        let o = outs.clone();
        let (runnable, task) = corio_core::spawn(
            async move {
                let _h = held;
                o.token()
            },
            |_r| {},
        );
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let dropper = thread::spawn(move || {
            b.wait();
            drop(task);
        });
        barrier.wait();
        runnable.run();
        join_timeout(dropper).unwrap();
        assert_eq!(futs.live(), 0);
        assert_eq!(
            outs.live(),
            0,
            "the output is dropped exactly once, by one side"
        );
    }
}

#[test]
fn cancel_racing_a_wake_and_a_run() {
    let futs = Counter::new();
    for _ in 0..iters(300) {
        let q = Queue::new();
        let gate = Gate::new();
        let held = futs.token();
        let wait = gate.wait();
        let (runnable, task) = corio_core::spawn(
            async move {
                let _h = held;
                wait.await
            },
            Sched(q.clone()),
        );
        runnable.run();
        let task = Arc::new(task);
        let barrier = Arc::new(Barrier::new(3));
        let (t, b) = (task.clone(), barrier.clone());
        let canceller = thread::spawn(move || {
            b.wait();
            t.cancel()
        });
        let (g, b) = (gate.clone(), barrier.clone());
        let waker = thread::spawn(move || {
            b.wait();
            g.open();
        });
        barrier.wait();
        // Run whatever gets queued while the others race.
        for _ in 0..3 {
            q.run_all();
            thread::yield_now();
        }
        let cancelled = join_timeout(canceller).unwrap();
        join_timeout(waker).unwrap();
        q.run_all();
        let task = Arc::into_inner(task).unwrap();
        let result = block_on(task);
        assert_eq!(result.is_err(), cancelled);
        assert_eq!(futs.live(), 0);
    }
}

/// A minimal multi-threaded executor: a shared FIFO and a condvar.
struct Pool {
    queue: Mutex<(VecDeque<Runnable>, bool)>,
    ready: Condvar,
}

#[test]
fn many_yielding_tasks_on_two_workers_poll_exactly_as_often_as_they_yield() {
    const YIELDS: usize = 5;
    let tasks = iters(400);
    let pool = Arc::new(Pool {
        queue: Mutex::new((VecDeque::new(), false)),
        ready: Condvar::new(),
    });
    let polls = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || loop {
                let r = {
                    let mut g = pool.queue.lock().unwrap();
                    loop {
                        if let Some(r) = g.0.pop_front() {
                            break r;
                        }
                        if g.1 {
                            return;
                        }
                        g = pool.ready.wait(g).unwrap();
                    }
                };
                r.run();
            })
        })
        .collect();
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let p = pool.clone();
            let polls = polls.clone();
            let mut left = YIELDS;
            let fut = std::future::poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                if left == 0 {
                    return Poll::Ready(i);
                }
                left -= 1;
                // Wake from another thread half the time, from inside the poll otherwise (Miri:
                // always inside, as it does not allow threads outliving the test).
                if left % 2 == 0 && !cfg!(miri) {
                    let w = cx.waker().clone();
                    thread::spawn(move || w.wake());
                } else {
                    cx.waker().wake_by_ref();
                }
                Poll::Pending
            });
            let (runnable, task) = corio_core::spawn(fut, move |r| {
                p.queue.lock().unwrap().0.push_back(r);
                p.ready.notify_one();
            });
            runnable.schedule();
            task
        })
        .collect();
    for (i, task) in handles.into_iter().enumerate() {
        assert_eq!(block_on(task).unwrap(), i);
    }
    pool.queue.lock().unwrap().1 = true;
    pool.ready.notify_all();
    for w in workers {
        join_timeout(w).unwrap();
    }
    assert_eq!(
        polls.load(Ordering::SeqCst),
        tasks * (YIELDS + 1),
        "no double schedule, no lost wake"
    );
}
