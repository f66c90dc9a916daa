//! Swappability: the pools' futures are plain futures, awaited here under
//! `futures::executor::block_on` and under tokio (no corio runtime involved).

mod common;

use std::time::Duration;

use corio_blocking::{spawn_blocking, BlockingPool, ThreadPool};

/// Runs `f` on a helper thread and fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("timed out (or the helper panicked)")
}

#[test]
fn awaited_under_futures_block_on() {
    within(common::LONG, || {
        futures::executor::block_on(async {
            let pool = BlockingPool::new();
            let tp = ThreadPool::new(2);
            let (a, b, c) =
                futures::join!(pool.submit(|| 1), tp.submit(|| 2), spawn_blocking(|| 3));
            assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (1, 2, 3));
        })
    });
}

#[cfg(not(loom))]
#[test]
fn awaited_under_tokio() {
    within(common::LONG, || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let pool = BlockingPool::new();
            let tp = ThreadPool::new(2);
            // Spawned as tokio tasks, so the waker is tokio's.
            let a = tokio::spawn(pool.submit(|| "blocking pool"));
            let b = tokio::spawn(tp.submit(|| "thread pool"));
            let c = tokio::spawn(spawn_blocking(|| "default pool"));
            assert_eq!(a.await.unwrap().unwrap(), "blocking pool");
            assert_eq!(b.await.unwrap().unwrap(), "thread pool");
            assert_eq!(c.await.unwrap().unwrap(), "default pool");
            let many: Vec<_> = (0..200).map(|i| spawn_blocking(move || i)).collect();
            let sum: i32 = futures::future::join_all(many)
                .await
                .into_iter()
                .map(Result::unwrap)
                .sum();
            assert_eq!(sum, (0..200).sum());
        });
    });
}
