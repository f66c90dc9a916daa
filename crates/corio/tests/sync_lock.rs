//! corio::sync::Lock: mutual exclusion, FIFO fairness, cancellation safety.

mod sync_support;

use std::pin::Pin;
use std::sync::Arc;

use corio::sync::Lock;
use sync_support::{block_on_timeout, poll_once, with_timeout, TEST_TIMEOUT};

#[test]
fn excludes_across_threads() {
    // 4 threads x 2,000 non-atomic read-modify-writes: any lost update shows.
    const THREADS: u64 = 4;
    const ROUNDS: u64 = 2_000;
    let lock = Arc::new(Lock::new(0u64));
    let total = with_timeout(TEST_TIMEOUT, {
        let lock = lock.clone();
        move || {
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let lock = lock.clone();
                    std::thread::spawn(move || {
                        futures::executor::block_on(async {
                            for _ in 0..ROUNDS {
                                let mut g = lock.acquire().await.unwrap();
                                let v = *g;
                                std::hint::spin_loop();
                                *g = v + 1;
                            }
                        })
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            futures::executor::block_on(async { *lock.acquire().await.unwrap() })
        }
    });
    assert_eq!(total, THREADS * ROUNDS);
    assert!(!lock.locked());
}

#[test]
fn waiters_are_served_fifo() {
    let lock = Lock::new(Vec::new());
    let mut guard = lock.try_acquire().unwrap();
    let mut waiters: Vec<_> = (0..5).map(|_| lock.acquire()).collect();
    for w in &mut waiters {
        assert!(poll_once(Pin::new(w)).is_pending());
    }
    assert_eq!(lock.waiters(), 5);
    guard.push(usize::MAX);
    drop(guard);
    // Poll in reverse: only the oldest waiter may get the lock each time.
    for i in 0..5 {
        for w in waiters[i + 1..].iter_mut().rev() {
            assert!(
                poll_once(Pin::new(w)).is_pending(),
                "waiter overtook an older one"
            );
        }
        let mut g = match poll_once(Pin::new(&mut waiters[i])) {
            std::task::Poll::Ready(g) => g.unwrap(),
            std::task::Poll::Pending => panic!("oldest waiter {i} did not get the lock"),
        };
        g.push(i);
    }
    drop(waiters);
    assert_eq!(lock.into_inner(), vec![usize::MAX, 0, 1, 2, 3, 4]);
}

#[test]
fn try_lock_does_not_barge_past_waiters() {
    let lock = Lock::new(());
    let g = lock.try_acquire().unwrap();
    let mut w = lock.acquire();
    assert!(poll_once(Pin::new(&mut w)).is_pending());
    drop(g);
    // The lock went to the queued waiter, not to a newcomer.
    assert!(lock.try_acquire().is_none());
    assert!(poll_once(Pin::new(&mut w)).is_ready());
}

#[test]
fn cancelled_waiter_leaves_the_queue() {
    let lock = Lock::new(());
    let g = lock.try_acquire().unwrap();
    let mut w = lock.acquire();
    assert!(poll_once(Pin::new(&mut w)).is_pending());
    drop(w); // cancelled while queued
    assert_eq!(lock.waiters(), 0);
    drop(g);
    assert!(!lock.locked(), "lock stuck after a cancelled waiter");
    assert!(lock.try_acquire().is_some());
}

#[test]
fn waiter_cancelled_after_handoff_passes_the_lock_on() {
    let lock = Lock::new(());
    let g = lock.try_acquire().unwrap();
    let mut a = lock.acquire();
    let mut b = lock.acquire();
    assert!(poll_once(Pin::new(&mut a)).is_pending());
    assert!(poll_once(Pin::new(&mut b)).is_pending());
    drop(g); // the lock is handed to `a` ...
    drop(a); // ... which is cancelled before it runs: `b` must get it
    assert!(poll_once(Pin::new(&mut b)).is_ready());
    drop(b);
    // And with no one left, a handed-then-cancelled lock comes back free.
    let g = lock.try_acquire().unwrap();
    let mut c = lock.acquire();
    assert!(poll_once(Pin::new(&mut c)).is_pending());
    drop(g);
    drop(c);
    assert!(!lock.locked());
}

#[test]
fn guard_released_on_panic() {
    let lock = Arc::new(Lock::new(1));
    let l2 = lock.clone();
    let r = std::thread::spawn(move || {
        futures::executor::block_on(async {
            let _g = l2.acquire().await.unwrap();
            panic!("boom while holding the lock");
        })
    })
    .join();
    assert!(r.is_err());
    let v = block_on_timeout(async move { *lock.acquire().await.unwrap() });
    assert_eq!(v, 1);
}

#[test]
fn excludes_across_runtime_tasks() {
    // 100 tasks x 100 increments on corio's workers, each yielding while holding.
    let total = sync_support::run_timeout(async {
        let lock = Arc::new(Lock::new(0u64));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let lock = lock.clone();
                corio::create_task(async move {
                    for _ in 0..100 {
                        let mut g = lock.acquire().await.unwrap();
                        let v = *g;
                        corio::yield_now().await;
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let v = *lock.acquire().await.unwrap();
        v
    });
    assert_eq!(total, 10_000);
}
