//! Owned acquires: `Semaphore::acquire_owned` and `Lock::acquire_owned` give
//! `'static` permits and guards that move into spawned tasks.

mod sync_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corio::sync::{Lock, Semaphore};
use futures::FutureExt;
use sync_support::{with_timeout, TEST_TIMEOUT};

#[test]
fn owned_permits_bound_the_tasks_that_hold_them() {
    with_timeout(TEST_TIMEOUT, || {
        corio::run(async {
            let sem = Arc::new(Semaphore::new(2));
            let inside = Arc::new(AtomicUsize::new(0));
            let max_seen = Arc::new(AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..20 {
                let permit = sem.clone().acquire_owned().await.unwrap();
                let (inside, max_seen) = (inside.clone(), max_seen.clone());
                tasks.push(corio::create_task(async move {
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_seen.fetch_max(n, Ordering::SeqCst);
                    corio::sleep(Duration::from_millis(1)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            assert!(max_seen.load(Ordering::SeqCst) <= 2);
            assert_eq!(sem.available_permits(), 2);
        })
    });
}

#[test]
fn a_dropped_owned_acquire_passes_the_permit_on_and_forget_keeps_it() {
    let sem = Arc::new(Semaphore::new(1));
    let held = sem.clone().acquire_owned().now_or_never().expect("free");
    let mut waiting = Box::pin(sem.clone().acquire_owned());
    assert!(
        waiting.as_mut().now_or_never().is_none(),
        "queued behind the holder"
    );
    drop(held); // hands the permit to the queued acquire
    drop(waiting); // which never used it: it goes back
    assert_eq!(sem.available_permits(), 1);
    let p = sem.clone().acquire_owned().now_or_never().unwrap().unwrap();
    p.forget();
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(
        Arc::strong_count(&sem),
        1,
        "a forgotten permit does not leak the Arc"
    );
}

#[test]
fn an_owned_lock_guard_moves_into_a_task_and_unlocks_when_it_ends() {
    with_timeout(TEST_TIMEOUT, || {
        corio::run(async {
            let lock = Arc::new(Lock::new(Vec::<u32>::new()));
            let mut guard = lock.clone().acquire_owned().await.unwrap();
            assert!(lock.locked());
            let task = corio::create_task(async move {
                corio::sleep(Duration::from_millis(5)).await;
                guard.push(1);
            });
            // Queued behind the task's guard: sees its push.
            let seen = lock.acquire().await.unwrap().clone();
            assert_eq!(seen, vec![1]);
            task.await.unwrap();
            assert!(!lock.locked());
        })
    });
}

#[test]
fn owned_guards_and_permits_are_static_and_send() {
    fn send_static<T: Send + 'static>(_: &T) {}
    let lock = Arc::new(Lock::new(0u8));
    let g = lock.clone().acquire_owned().now_or_never().unwrap();
    send_static(&g);
    drop(g);
    let sem = Arc::new(Semaphore::new(1));
    send_static(&sem.clone().acquire_owned());
}
