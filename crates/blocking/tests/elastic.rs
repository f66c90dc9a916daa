//! The default-pool behaviours: elastic growth, reuse, the thread limit, idle shrink.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, wait_timeout, Gate, LONG};
use corio_blocking::BlockingPool;

#[test]
fn grows_on_demand_reuses_idle_threads_and_shrinks_after_idle_timeout() {
    // Short idle timeout so the shrink is observable quickly; long enough that
    // threads do not exit between the steps below on a loaded machine.
    let pool = BlockingPool::builder()
        .max_threads(8)
        .idle_timeout(Duration::from_millis(1500))
        .build();
    assert_eq!(pool.thread_count(), 0, "no thread before the first spawn");

    // Three closures that block at once need three threads.
    let gate = Gate::new();
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let gate = gate.clone();
            pool.submit(move || {
                gate.pass();
                i
            })
        })
        .collect();
    eventually("3 threads started", LONG, || pool.thread_count() == 3);
    gate.open();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(wait_timeout(task, LONG).unwrap(), i);
    }

    // All three go idle; new work reuses them instead of starting threads.
    eventually("all threads idle", LONG, || pool.idle_count() == 3);
    let gate = Gate::new();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let gate = gate.clone();
            pool.submit(move || gate.pass())
        })
        .collect();
    eventually("idle threads picked the work up", LONG, || {
        pool.idle_count() == 0
    });
    assert_eq!(
        pool.thread_count(),
        3,
        "no thread may start while idle ones exist"
    );
    gate.open();
    for task in tasks {
        wait_timeout(task, LONG).unwrap();
    }

    // After the idle timeout every thread exits.
    eventually("idle threads exited", LONG, || pool.thread_count() == 0);
    assert_eq!(pool.idle_count(), 0);

    // And the pool still works afterwards (it grows again).
    assert_eq!(wait_timeout(pool.submit(|| 5), LONG).unwrap(), 5);
}

#[test]
fn never_exceeds_max_threads_and_queues_the_rest() {
    let pool = BlockingPool::builder().max_threads(2).build();
    let gate = Gate::new();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let (gate, running, peak) = (gate.clone(), running.clone(), peak.clone());
            pool.submit(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                gate.pass();
                running.fetch_sub(1, Ordering::SeqCst);
                i * 10
            })
        })
        .collect();
    eventually("2 closures running", LONG, || {
        running.load(Ordering::SeqCst) == 2
    });
    assert_eq!(pool.thread_count(), 2);
    gate.open();
    let results: Vec<_> = tasks
        .into_iter()
        .map(|t| wait_timeout(t, LONG).unwrap())
        .collect();
    assert_eq!(results, vec![0, 10, 20, 30, 40, 50]);
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "ran more than max_threads at once"
    );
    assert!(pool.thread_count() <= 2);
}

#[test]
fn many_small_jobs_all_complete_with_few_threads() {
    let pool = BlockingPool::builder().max_threads(64).build();
    let tasks: Vec<_> = (0..2000u64).map(|i| pool.submit(move || i * i)).collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let i = i as u64;
        assert_eq!(wait_timeout(task, LONG).unwrap(), i * i);
    }
    assert!(pool.thread_count() <= 64);
}

#[test]
fn threads_carry_the_configured_name() {
    let pool = BlockingPool::builder().thread_name("elastic-test").build();
    let name = wait_timeout(
        pool.submit(|| std::thread::current().name().map(str::to_owned)),
        LONG,
    )
    .unwrap();
    assert_eq!(name.as_deref(), Some("elastic-test"));
}

#[test]
fn the_default_pool_runs_spawn_blocking() {
    let name = wait_timeout(
        corio_blocking::spawn_blocking(|| std::thread::current().name().map(str::to_owned)),
        LONG,
    )
    .unwrap();
    assert_eq!(name.as_deref(), Some("corio-blocking"));
    assert_eq!(corio_blocking::default_pool().max_threads(), 512);
}

#[test]
fn dropping_the_task_does_not_cancel_the_closure() {
    let pool = BlockingPool::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    drop(pool.submit(move || r.fetch_add(1, Ordering::SeqCst)));
    eventually("the closure ran", LONG, || ran.load(Ordering::SeqCst) == 1);
}
