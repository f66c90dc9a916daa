//! corio::sync::{Semaphore, BoundedSemaphore}: counting, FIFO, bounds, cancellation.

mod sync_support;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use corio::sync::{BoundedSemaphore, Semaphore};
use sync_support::{poll_once, with_timeout, TEST_TIMEOUT};

#[test]
fn limits_concurrency_across_threads() {
    const LIMIT: usize = 3;
    let sem = Arc::new(Semaphore::new(LIMIT));
    let inside = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    with_timeout(TEST_TIMEOUT, {
        let (sem, inside, max_seen) = (sem.clone(), inside.clone(), max_seen.clone());
        move || {
            let ts: Vec<_> = (0..8)
                .map(|_| {
                    let (sem, inside, max_seen) = (sem.clone(), inside.clone(), max_seen.clone());
                    std::thread::spawn(move || {
                        futures::executor::block_on(async {
                            for _ in 0..300 {
                                let _p = sem.acquire().await.unwrap();
                                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                                max_seen.fetch_max(now, Ordering::SeqCst);
                                std::thread::yield_now();
                                inside.fetch_sub(1, Ordering::SeqCst);
                            }
                        })
                    })
                })
                .collect();
            for t in ts {
                t.join().unwrap();
            }
        }
    });
    assert!(max_seen.load(Ordering::SeqCst) <= LIMIT);
    assert_eq!(sem.available_permits(), LIMIT);
}

#[test]
fn release_wakes_oldest_and_can_exceed_initial_value() {
    let sem = Semaphore::new(0);
    assert!(sem.locked());
    let mut a = sem.acquire();
    let mut b = sem.acquire();
    assert!(poll_once(Pin::new(&mut a)).is_pending());
    assert!(poll_once(Pin::new(&mut b)).is_pending());
    sem.release();
    assert!(poll_once(Pin::new(&mut b)).is_pending(), "b overtook a");
    let pa = match poll_once(Pin::new(&mut a)) {
        std::task::Poll::Ready(p) => p.unwrap(),
        _ => panic!("a did not get the released permit"),
    };
    pa.forget();
    drop(b);
    // Plain Semaphore: releases without acquires just add permits (asyncio).
    sem.release();
    sem.release();
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn cancelled_waiters_lose_no_permit() {
    let sem = Semaphore::new(1);
    let p = sem.try_acquire().unwrap();
    let mut queued: Vec<_> = (0..4).map(|_| sem.acquire()).collect();
    for q in &mut queued {
        assert!(poll_once(Pin::new(q)).is_pending());
    }
    drop(p); // handed to queued[0]
    drop(queued); // all cancelled, including the one holding the handed permit
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn bounded_release_too_often_is_an_error() {
    let sem = BoundedSemaphore::new(2);
    let err = sem.release().unwrap_err();
    assert!(err.to_string().contains("released too many times"), "{err}");
    let p = sem.try_acquire().unwrap();
    p.forget();
    assert!(sem.release().is_ok());
    assert!(sem.release().is_err());
    assert_eq!(sem.available_permits(), 2);
    // A guard whose permit was already returned by hand does not push past the bound.
    let g = sem.try_acquire().unwrap();
    sem.release().unwrap();
    drop(g);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn bounded_acquire_waits_and_wakes() {
    let sem = Arc::new(BoundedSemaphore::new(1));
    let got = with_timeout(TEST_TIMEOUT, {
        let sem = sem.clone();
        move || {
            let p = sem.try_acquire().unwrap();
            let s2 = sem.clone();
            let t = std::thread::spawn(move || {
                futures::executor::block_on(async {
                    let _p = s2.acquire().await.unwrap();
                    true
                })
            });
            while sem.waiters() == 0 {
                std::thread::yield_now();
            }
            drop(p);
            t.join().unwrap()
        }
    });
    assert!(got);
    assert_eq!(sem.available_permits(), 1);
}
