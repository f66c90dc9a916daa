//! Loom models of the waiter protocol behind `corio::sync` and `corio::queue`
//! (`src/sync/waitlist.rs`: register / notify / poll / cancel, each under the
//! primitive's mutex, which `src/sync/loom_shim.rs` swaps for loom's).
//!
//! Run with `bash ci/loom.sh` (or
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p corio --test loom`).
//!
//! Each model races a real waiter (driven to completion by loom's
//! `block_on`, whose waker loom tracks) against a
//! waiter that is polled once and then dropped (a cancelled task), and checks that
//! nothing is lost: the lock ends free, the permit count is restored, the
//! notification or item reaches the waiter that stayed. A lost wake-up leaves
//! `block_on` parked forever, which loom reports as a deadlock.
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use futures::task::noop_waker;

use corio::queue::Queue;
use corio::sync::{Event, Lock, Semaphore};
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

/// Polls `fut` once (so it queues if it cannot finish) and then drops it: a
/// cancelled waiter. Returns whether it completed on that one poll.
fn poll_once_then_drop<F: Future>(fut: F) -> bool {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let fut = pin!(fut);
    fut.poll(&mut cx).is_ready()
}

/// Lock: the holder releases while a second acquirer is queued, racing a thread
/// that also waits for the lock; the queued acquirer is then dropped. Whoever
/// was handed the lock, the waiting thread gets it and the lock ends free.
#[test]
fn lock_cancelled_waiter_passes_lock_on() {
    loom::model(|| {
        let lock = Arc::new(Lock::new(0u32));
        let held = lock.try_acquire().expect("a fresh lock is free");

        let l2 = lock.clone();
        let waiter = thread::spawn(move || {
            let mut g = block_on(l2.acquire()).unwrap();
            *g += 1;
        });

        {
            let mut cancelled = pin!(lock.acquire());
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            // We hold the lock, so this acquire must queue.
            assert!(cancelled.as_mut().poll(&mut cx).is_pending());
            drop(held); // hands the lock to the oldest waiter: `cancelled` or the thread
        } // `cancelled` dropped: if it was handed the lock, it passes it on

        waiter.join().unwrap();
        assert_eq!(lock.waiters(), 0);
        let g = lock.try_acquire().expect("lock must end free");
        assert_eq!(*g, 1, "the waiting thread got the lock exactly once");
    });
}

/// Semaphore(1) whose only permit is out: a thread returns it (`release`) while
/// another thread waits and a queued acquirer is dropped. The permit ends back in
/// the semaphore whichever waiter it was handed to first.
#[test]
fn semaphore_cancelled_waiter_passes_permit_on() {
    loom::model(|| {
        // Semaphore(1) with its permit taken (and forgotten) up front; the
        // `release` below returns it.
        let sem = Arc::new(Semaphore::new(1));
        sem.try_acquire().expect("one permit").forget();

        let s1 = sem.clone();
        let waiter = thread::spawn(move || {
            let permit = block_on(s1.acquire()).unwrap();
            drop(permit); // released again
        });
        let s2 = sem.clone();
        let releaser = thread::spawn(move || s2.release());

        // May be handed the permit (then dropping it releases it) or not.
        let _ = poll_once_then_drop(sem.acquire());

        waiter.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(sem.waiters(), 0);
        assert_eq!(sem.available_permits(), 1, "permit restored");
    });
}

/// Event: `set` races a waiting thread and a waiter that is polled once and
/// dropped. The waiting thread always wakes up; the event stays set.
#[test]
fn event_set_races_wait() {
    loom::model(|| {
        let ev = Arc::new(Event::new());

        let e1 = ev.clone();
        let waiter = thread::spawn(move || block_on(e1.wait()));
        let e2 = ev.clone();
        let setter = thread::spawn(move || e2.set());

        let _ = poll_once_then_drop(ev.wait());

        waiter.join().unwrap();
        setter.join().unwrap();
        assert!(ev.is_set());
    });
}

/// Queue(1): a producer's `put` races a getter thread and a getter that is polled
/// once and dropped. If the dropped getter had been handed the wake-up for the
/// item, it must pass it on, or the getter thread would wait forever (loom
/// reports that as a deadlock).
#[test]
fn queue_put_get_race_with_cancelled_getter() {
    loom::model(|| {
        let q: Queue<u32> = Queue::new(1);

        let q1 = q.clone();
        let producer = thread::spawn(move || block_on(q1.put(7)).expect("queue not shut down"));
        let q2 = q.clone();
        let consumer = thread::spawn(move || block_on(q2.get()).expect("queue not shut down"));

        {
            let waker = noop_waker();
            let mut cx = Context::from_waker(&waker);
            let mut get = pin!(q.get());
            if let Poll::Ready(item) = get.as_mut().poll(&mut cx) {
                // It took the item on its one poll: give it back for the consumer
                // (there is room: the queue holds at most one item, this one).
                q.put_nowait(item.expect("queue not shut down"))
                    .expect("room for the item just taken");
            }
        } // dropped while queued: cancels, passing on any wake-up it was handed

        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), 7);
        assert!(q.empty());
    });
}
