//! Cancellation storms: several threads hammer each primitive, dropping
//! waiting futures at random points, then the invariants are checked (lock free,
//! permits restored, no waiter left behind).

mod sync_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use corio::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore};
use futures::FutureExt;
use sync_support::{poll_n_then_drop, with_timeout, Rng, TEST_TIMEOUT};

/// Threads per storm: more than the 2 cores so that threads get preempted
/// while holding and while waiting.
const THREADS: u64 = 4;
/// Iterations per thread: enough to hit every hand-off window many times,
/// small enough to keep the test under a second on 2 cores.
const ROUNDS: u64 = 3_000;

fn storm(f: impl Fn(u64, Rng) + Send + Sync + 'static) {
    let f = Arc::new(f);
    with_timeout(TEST_TIMEOUT, move || {
        let ts: Vec<_> = (0..THREADS)
            .map(|t| {
                let f = f.clone();
                std::thread::spawn(move || f(t, Rng(0x9E37_79B9_7F4A_7C15 ^ ((t + 1) * 7919))))
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
    });
}

#[test]
fn lock_storm() {
    let lock = Arc::new(Lock::new(0u64));
    let wins = Arc::new(AtomicUsize::new(0));
    storm({
        let (lock, wins) = (lock.clone(), wins.clone());
        move |_, mut rng| {
            futures::executor::block_on(async {
                for _ in 0..ROUNDS {
                    if let Some(Ok(mut g)) =
                        poll_n_then_drop(lock.acquire(), rng.below(4) as u32).await
                    {
                        *g += 1;
                        wins.fetch_add(1, Ordering::Relaxed);
                        if rng.below(2) == 0 {
                            std::thread::yield_now();
                        }
                    }
                }
            })
        }
    });
    assert!(!lock.locked(), "lock left locked");
    assert_eq!(lock.waiters(), 0);
    let v = *lock.try_acquire().expect("lock free after storm");
    assert_eq!(v as usize, wins.load(Ordering::Relaxed));
}

#[test]
fn semaphore_storm() {
    const PERMITS: usize = 3;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let bsem = Arc::new(BoundedSemaphore::new(PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    storm({
        let (sem, bsem, inside) = (sem.clone(), bsem.clone(), inside.clone());
        move |_, mut rng| {
            futures::executor::block_on(async {
                for _ in 0..ROUNDS {
                    if let Some(_p) = poll_n_then_drop(sem.acquire(), rng.below(4) as u32).await {
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(n <= PERMITS, "{n} holders of {PERMITS} permits");
                        std::thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                    let _b = poll_n_then_drop(bsem.acquire(), rng.below(4) as u32).await;
                }
            })
        }
    });
    assert_eq!(sem.available_permits(), PERMITS, "Semaphore lost permits");
    assert_eq!(sem.waiters(), 0);
    assert_eq!(
        bsem.available_permits(),
        PERMITS,
        "BoundedSemaphore lost permits"
    );
    assert!(bsem.release().is_err());
}

#[test]
fn condition_and_event_storm() {
    let cond = Arc::new(Condition::new(0u64));
    let ev = Arc::new(Event::new());
    storm({
        let (cond, ev) = (cond.clone(), ev.clone());
        move |t, mut rng| {
            futures::executor::block_on(async {
                for _ in 0..ROUNDS {
                    if t % 2 == 0 {
                        // Notifier side.
                        if let Some(Ok(mut g)) = poll_n_then_drop(cond.acquire(), 3).await {
                            *g += 1;
                        }
                        cond.notify(rng.below(3) as usize);
                        if rng.below(2) == 0 {
                            ev.set()
                        } else {
                            ev.clear()
                        }
                    } else {
                        // Waiter side, cancelled at random points of wait().
                        if let Some(Ok(g)) = poll_n_then_drop(cond.acquire(), 3).await {
                            let _ = poll_n_then_drop(cond.wait(g), rng.below(6) as u32).await;
                        }
                        let _ = poll_n_then_drop(ev.wait(), rng.below(3) as u32).await;
                    }
                }
            })
        }
    });
    assert!(!cond.locked(), "condition lock left locked");
    assert_eq!(cond.waiters(), 0, "waiters left in the condition queue");
    ev.set();
    assert!(ev.wait().now_or_never().is_some());
}

#[test]
fn barrier_storm() {
    let barrier = Arc::new(Barrier::new(3));
    let passed = Arc::new(AtomicUsize::new(0));
    storm({
        let (barrier, passed) = (barrier.clone(), passed.clone());
        move |_, mut rng| {
            futures::executor::block_on(async {
                for _ in 0..ROUNDS / 4 {
                    if let Some(r) = poll_n_then_drop(barrier.wait(), rng.below(20) as u32).await {
                        assert!(r.unwrap() < 3);
                        passed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        }
    });
    assert_eq!(barrier.n_waiting(), 0, "cancelled parties still counted");
    assert!(!barrier.broken());
    // Still usable: a full round passes.
    with_timeout(TEST_TIMEOUT, move || {
        let ts: Vec<_> = (0..3)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || futures::executor::block_on(b.wait()).unwrap())
            })
            .collect();
        let mut idx: Vec<_> = ts.into_iter().map(|t| t.join().unwrap()).collect();
        idx.sort();
        assert_eq!(idx, [0, 1, 2]);
    });
}
