//! Model checks of the pool protocol (`src/pool.rs`) and the result hand-off
//! (`src/task.rs`) with loom: run by `ci/loom.sh` (`--cfg loom`,
//! LOOM_MAX_PREEMPTIONS=2). Under loom the pool does not spin (except where a model
//! asks for it with `loom_spinner`) and idle timeouts never fire, so these models
//! cover spawn / claim / complete / wake / shutdown.
#![cfg(loom)]

use std::time::Duration;

use corio_blocking::{BlockingPool, ThreadPool};

/// Bound for `shutdown_timeout` in the models; loom's condvar never times out, so
/// this only has to be larger than the model's real running time.
const FOREVER: Duration = Duration::from_secs(3600);

#[test]
fn spawn_complete_wait_then_shutdown() {
    loom::model(|| {
        let pool = BlockingPool::builder().max_threads(1).build();
        let task = pool.submit(|| 7);
        assert_eq!(task.wait().unwrap(), 7);
        assert!(pool.shutdown_timeout(FOREVER));
        assert_eq!(pool.thread_count(), 0);
    });
}

#[test]
fn second_job_reuses_or_queues_and_both_complete() {
    loom::model(|| {
        let pool = BlockingPool::builder().max_threads(2).build();
        let a = pool.submit(|| 1);
        let b = pool.submit(|| 2);
        assert_eq!(b.wait().unwrap() + a.wait().unwrap(), 3);
        assert!(pool.shutdown_timeout(FOREVER));
    });
}

#[test]
fn shutdown_races_with_queued_work() {
    loom::model(|| {
        let pool = BlockingPool::builder().max_threads(1).build();
        let a = pool.submit(|| 1);
        let b = pool.submit(|| 2);
        assert!(pool.shutdown_timeout(FOREVER));
        // Each job either ran or was dropped with Cancelled; nothing hangs.
        for (task, value) in [(a, 1), (b, 2)] {
            match task.wait() {
                Ok(v) => assert_eq!(v, value),
                Err(e) if e.is_cancelled() => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(pool.thread_count(), 0);
    });
}

#[test]
fn thread_pool_drains_queue_on_shutdown() {
    loom::model(|| {
        let pool = ThreadPool::new(1);
        let a = pool.submit(|| 1);
        let b = pool.submit(|| 2);
        pool.shutdown(true);
        assert_eq!(a.wait().unwrap() + b.wait().unwrap(), 3);
    });
}

#[test]
fn concurrent_spawners_share_one_thread() {
    loom::model(|| {
        let pool = std::sync::Arc::new(BlockingPool::builder().max_threads(1).build());
        let p = pool.clone();
        let other = loom::thread::spawn(move || p.submit(|| 2).wait().unwrap());
        let mine = pool.submit(|| 1).wait().unwrap();
        assert_eq!(mine + other.join().unwrap(), 3);
        assert!(pool.shutdown_timeout(FOREVER));
        assert_eq!(pool.thread_count(), 0);
    });
}

/// A job pushed while a thread spins: the push either counts on the spinner (it
/// polls and takes the job) or, as for a spinner the kernel switched out, claims
/// the job for a sleeper or a new thread, racing the spinner to it. Either way
/// every job runs exactly once and the pool shuts down cleanly.
fn spinner_model(counted_on: bool) {
    loom::model(move || {
        let pool = BlockingPool::builder()
            .max_threads(2)
            .loom_spinner(counted_on)
            .build();
        assert_eq!(pool.submit(|| 1).wait().unwrap(), 1);
        // The thread that ran it is now spinning, sleeping, or still busy.
        assert_eq!(pool.submit(|| 2).wait().unwrap(), 2);
        assert!(pool.shutdown_timeout(FOREVER));
        assert_eq!(pool.thread_count(), 0);
    });
}

#[test]
fn a_push_that_counts_on_the_spinner_is_taken_by_it() {
    spinner_model(true);
}

#[test]
fn a_push_that_does_not_count_on_the_spinner_still_runs_once() {
    spinner_model(false);
}
