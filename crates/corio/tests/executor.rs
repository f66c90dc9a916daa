//! run_in_executor / to_thread with the runtime's pool and a ThreadPool.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn to_thread_and_default_pool() {
    common::run(30, async {
        let here = std::thread::current().id();
        let there = corio::to_thread(|| std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(here, there);
        let v = corio::run_in_executor(None, || vec![1, 2, 3])
            .await
            .unwrap();
        assert_eq!(v, vec![1, 2, 3]);
    });
}

#[test]
fn blocking_work_does_not_block_the_workers() {
    common::run(30, async {
        // 4 blocking jobs on pool threads that only return once a task on the workers
        // has ticked 10 times: if blocking work held the workers, the ticker could not
        // tick and the jobs would give up (after 20 s, a bound no load reaches).
        let ticks = Arc::new(AtomicUsize::new(0));
        let blocking: Vec<_> = (0..4)
            .map(|_| {
                let ticks = ticks.clone();
                corio::to_thread(move || {
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while ticks.load(SeqCst) < 10 && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    ticks.load(SeqCst)
                })
            })
            .collect();
        let t = ticks.clone();
        let ticker = corio::create_task(async move {
            for _ in 0..10 {
                corio::sleep(Duration::from_millis(10)).await;
                t.fetch_add(1, SeqCst);
            }
        });
        for r in corio::gather(blocking).await {
            assert!(
                r.unwrap() >= 10,
                "the ticker ran while the blocking jobs did"
            );
        }
        ticker.await.unwrap();
    });
}

#[test]
fn thread_pool_and_panics() {
    common::run(30, async {
        let pool = corio::ThreadPool::new(2);
        let r = corio::run_in_executor(Some(&pool), || 6 * 7).await.unwrap();
        assert_eq!(r, 42);
        let err = corio::run_in_executor(Some(&pool), || -> u8 { panic!("in the pool") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("in the pool"));
        // The pool lives on.
        assert_eq!(corio::run_in_executor(Some(&pool), || 1).await.unwrap(), 1);
        pool.shutdown(true);
        let refused = corio::run_in_executor(Some(&pool), || 1).await.unwrap_err();
        assert!(refused.is_shutdown());
    });
}

#[test]
fn run_in_executor_none_outside_a_runtime_panics() {
    let err = std::panic::catch_unwind(|| corio::to_thread(|| 1)).unwrap_err();
    assert!(common::panic_msg(&*err).contains("outside a corio runtime"));
}
