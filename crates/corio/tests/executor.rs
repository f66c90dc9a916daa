//! run_in_executor / to_thread with the runtime's pool and a ThreadPool.

mod common;

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
        let start = Instant::now();
        // 4 blocking sleeps of 200 ms, in parallel on pool threads, while a task
        // keeps ticking on the workers.
        let blocking: Vec<_> = (0..4)
            .map(|_| corio::to_thread(|| std::thread::sleep(Duration::from_millis(200))))
            .collect();
        let ticker = corio::create_task(async {
            let mut n = 0;
            for _ in 0..10 {
                corio::sleep(Duration::from_millis(10)).await;
                n += 1;
            }
            n
        });
        for r in corio::gather(blocking).await {
            r.unwrap();
        }
        assert_eq!(ticker.await.unwrap(), 10);
        assert!(start.elapsed() < Duration::from_secs(3));
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
