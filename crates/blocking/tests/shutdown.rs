//! Shutdown: queued work dropped (BlockingPool) or drained (ThreadPool), running
//! work waited for (bounded), later work refused.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{eventually, wait_timeout, Gate, LONG};
use corio_blocking::{BlockingPool, ThreadPool};

#[test]
fn blocking_pool_drops_queued_work_and_waits_for_running_work_up_to_the_timeout() {
    let pool = BlockingPool::builder().max_threads(1).build();
    let gate = Gate::new();
    let started = Arc::new(AtomicUsize::new(0));
    let (g, s) = (gate.clone(), started.clone());
    let running = pool.submit(move || {
        s.fetch_add(1, Ordering::SeqCst);
        g.pass();
        "finished"
    });
    eventually("the first closure runs", LONG, || {
        started.load(Ordering::SeqCst) == 1
    });
    // The only thread is busy: these two stay queued.
    let ran_queued = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..2)
        .map(|_| {
            let r = ran_queued.clone();
            pool.submit(move || r.fetch_add(1, Ordering::SeqCst))
        })
        .collect();

    let t0 = Instant::now();
    let all_exited = pool.shutdown_timeout(Duration::from_millis(200));
    assert!(!all_exited, "the running closure is still blocked");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert!(pool.is_shutdown());

    for task in queued {
        let err = wait_timeout(task, LONG).unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(err.to_string().contains("shut down"), "{err}");
    }
    let refused = wait_timeout(pool.submit(|| 1), LONG).unwrap_err();
    assert!(refused.is_shutdown() && !refused.is_cancelled());
    assert!(refused.to_string().contains("shut down"), "{refused}");

    // The detached thread finishes its closure, delivers the result, and exits.
    gate.open();
    assert_eq!(wait_timeout(running, LONG).unwrap(), "finished");
    eventually("the detached thread exited", LONG, || {
        pool.thread_count() == 0
    });
    assert_eq!(
        ran_queued.load(Ordering::SeqCst),
        0,
        "queued closures never ran"
    );
}

#[test]
fn blocking_pool_shutdown_returns_true_once_running_work_is_done() {
    let pool = BlockingPool::new();
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            pool.submit(move || {
                std::thread::sleep(Duration::from_millis(50));
                i
            })
        })
        .collect();
    // Give the threads time to pick the work up (they might still be queued:
    // then they are cancelled, which is also correct; the count below tells).
    eventually("work started", LONG, || pool.thread_count() >= 1);
    assert!(pool.shutdown_timeout(LONG));
    assert_eq!(
        pool.thread_count(),
        0,
        "no thread left after shutdown returned true"
    );
    for task in tasks {
        match wait_timeout(task, LONG) {
            Ok(_) => {}
            Err(e) if e.is_cancelled() => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn thread_pool_shutdown_wait_runs_submitted_work_then_refuses() {
    let pool = ThreadPool::new(2);
    let done = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let done = done.clone();
            pool.submit(move || done.lock().unwrap().push(i))
        })
        .collect();
    pool.shutdown(true);
    let mut done = done.lock().unwrap().clone();
    done.sort();
    assert_eq!(done, (0..8).collect::<Vec<_>>(), "queued work still ran");
    assert_eq!(pool.thread_count(), 0);
    for h in handles {
        wait_timeout(h, LONG).unwrap();
    }
    let err = wait_timeout(pool.submit(|| ()), LONG).unwrap_err();
    assert!(err.is_shutdown() && !err.is_cancelled());
    assert!(err.to_string().contains("pool is shut down"), "{err}");
}

#[test]
fn thread_pool_shutdown_without_wait_returns_at_once() {
    let pool = ThreadPool::new(1);
    let gate = Gate::new();
    let g = gate.clone();
    let handle = pool.submit(move || {
        g.pass();
        3
    });
    let queued = pool.submit(|| 4);
    let t0 = Instant::now();
    pool.shutdown(false);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "shutdown(false) must not wait"
    );
    gate.open();
    assert_eq!(wait_timeout(handle, LONG).unwrap(), 3);
    assert_eq!(wait_timeout(queued, LONG).unwrap(), 4);
    eventually("threads exited", LONG, || pool.thread_count() == 0);
}

#[test]
fn dropping_a_thread_pool_waits_for_its_work() {
    let counter = Arc::new(AtomicUsize::new(0));
    {
        let pool = ThreadPool::new(3);
        for _ in 0..10 {
            let c = counter.clone();
            // Fire and forget: the handles are dropped at once.
            drop(pool.submit(move || {
                std::thread::sleep(Duration::from_millis(5));
                c.fetch_add(1, Ordering::SeqCst);
            }));
        }
    } // like leaving `with ThreadPoolExecutor() as pool:`
    assert_eq!(counter.load(Ordering::SeqCst), 10);
}

#[test]
fn thread_pool_shutdown_from_its_own_closure_does_not_deadlock() {
    let pool = Arc::new(ThreadPool::new(2));
    let p = pool.clone();
    let handle = pool.submit(move || p.shutdown(true));
    wait_timeout(handle, LONG).unwrap();
    assert!(pool.is_shutdown());
}

#[test]
fn thread_pool_defaults_and_limit() {
    assert_eq!(ThreadPool::default().max_workers(), num_cpus_plus_4());
    let pool = ThreadPool::new(2);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (running, peak) = (running.clone(), peak.clone());
            pool.submit(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(10));
                running.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for h in handles {
        wait_timeout(h, LONG).unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 2);
    assert!(pool.thread_count() <= 2);
}

fn num_cpus_plus_4() -> usize {
    num_cpus::get() + 4
}
