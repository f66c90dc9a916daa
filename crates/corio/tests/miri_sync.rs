//! Miri-sized tests of `corio::sync` (and the queue built on the same waiter list):
//! real threads, each driving the primitives with `futures::executor::block_on`
//! (Miri cannot run corio's runtime: its reactor needs epoll). Under Miri
//! (`bash ci/miri.sh`) they check `Lock<T>`'s `UnsafeCell` accesses, the guards'
//! `Send`/`Sync` claims and the waiter lists for undefined behaviour and data races;
//! under `cargo test` they are ordinary (small) tests.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;

use corio::queue::Queue;
use corio::sync::{Barrier, Condition, Event, Lock, Semaphore};
use futures::executor::block_on;
use futures::task::noop_waker;

/// Threads per test and rounds per thread: small, Miri is ~1000x slower.
const THREADS: usize = 3;
const ROUNDS: usize = 10;

/// Polls `fut` once and reports whether it finished; the future is then dropped
/// (a cancelled waiter when it did not).
fn poll_once<F: Future>(fut: F) -> bool {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    matches!(pin!(fut).poll(&mut cx), Poll::Ready(_))
}

/// Runs `f(i)` on `THREADS` threads and joins them.
fn on_threads(f: impl Fn(usize) + Send + Sync + 'static) {
    let f = Arc::new(f);
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let f = f.clone();
            thread::spawn(move || f(i))
        })
        .collect();
    for t in threads {
        t.join().expect("a test thread panicked");
    }
}

#[test]
fn lock_guards_mutate_a_heap_value_from_many_threads() {
    let lock = Arc::new(Lock::new(Vec::new()));
    let l = lock.clone();
    on_threads(move |i| {
        for r in 0..ROUNDS {
            let mut g = block_on(l.acquire()).unwrap();
            // Reallocates now and then: a racing reader would touch freed memory.
            g.push(i * ROUNDS + r);
        }
    });
    let mut all = Arc::try_unwrap(lock).expect("threads joined").into_inner();
    all.sort_unstable();
    assert_eq!(all, (0..THREADS * ROUNDS).collect::<Vec<_>>());
}

#[test]
fn lock_guard_is_shared_across_threads_for_reading() {
    let mut lock = Lock::new(String::from("shared"));
    {
        let g = lock.try_acquire().expect("free");
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| assert_eq!(g.as_str(), "shared"));
            }
        });
    }
    lock.get_mut().push('!');
    assert_eq!(lock.into_inner(), "shared!");
}

#[test]
fn lock_cancelled_waiter_passes_the_lock_on() {
    let lock = Arc::new(Lock::new(0u32));
    let held = lock.try_acquire().expect("free");
    let l = lock.clone();
    let waiter = thread::spawn(move || *block_on(l.acquire()).unwrap() += 1);
    {
        let mut queued = pin!(lock.acquire());
        let waker = noop_waker();
        assert!(queued
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        drop(held);
    } // dropped: if it had been handed the lock, it passes it on
    waiter.join().expect("waiter");
    assert_eq!(*lock.try_acquire().expect("ends free"), 1);
    assert_eq!(lock.waiters(), 0);
}

#[test]
fn semaphore_bounds_concurrency_across_threads() {
    const PERMITS: usize = 2;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (s, n, m) = (sem.clone(), inside.clone(), most.clone());
    on_threads(move |_| {
        for _ in 0..ROUNDS {
            let _permit = block_on(s.acquire());
            let now = n.fetch_add(1, SeqCst) + 1;
            m.fetch_max(now, SeqCst);
            thread::yield_now();
            n.fetch_sub(1, SeqCst);
        }
        // A queued acquire that is cancelled gives nothing away.
        let _ = poll_once(s.acquire());
    });
    assert!(most.load(SeqCst) <= PERMITS);
    assert_eq!(sem.available_permits(), PERMITS);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn event_set_wakes_waiting_threads() {
    let ev = Arc::new(Event::new());
    let woke = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (ev, woke) = (ev.clone(), woke.clone());
            thread::spawn(move || {
                block_on(ev.wait());
                woke.fetch_add(1, SeqCst);
            })
        })
        .collect();
    // A waiter that gives up before the set.
    assert!(!poll_once(ev.wait()));
    ev.set();
    for t in threads {
        t.join().expect("waiter");
    }
    assert_eq!(woke.load(SeqCst), THREADS);
    assert!(ev.is_set());
    ev.clear();
    assert!(!poll_once(ev.wait()));
}

#[test]
fn condition_hands_items_from_a_producer_to_consumers() {
    let cond = Arc::new(Condition::new(Vec::<usize>::new()));
    let taken = Arc::new(AtomicUsize::new(0));
    let consumers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (cond, taken) = (cond.clone(), taken.clone());
            thread::spawn(move || {
                block_on(async {
                    for _ in 0..ROUNDS {
                        let mut g = cond.acquire().await.unwrap();
                        while g.is_empty() {
                            g = cond.wait(g).await.unwrap();
                        }
                        g.pop();
                        taken.fetch_add(1, SeqCst);
                    }
                })
            })
        })
        .collect();
    block_on(async {
        for i in 0..THREADS * ROUNDS {
            cond.acquire().await.unwrap().push(i);
            cond.notify(1);
        }
    });
    // Items pushed while no consumer waited are still taken; wake any stragglers.
    while taken.load(SeqCst) < THREADS * ROUNDS {
        block_on(async {
            let _g = cond.acquire().await.unwrap();
            cond.notify_all();
        });
        thread::yield_now();
    }
    for c in consumers {
        c.join().expect("consumer");
    }
    assert!(block_on(cond.acquire()).unwrap().is_empty());
}

#[test]
fn barrier_releases_all_parties_each_round() {
    let barrier = Arc::new(Barrier::new(THREADS));
    let leaders = Arc::new(AtomicUsize::new(0));
    let (b, l) = (barrier.clone(), leaders.clone());
    on_threads(move |_| {
        for _ in 0..3 {
            let index = block_on(b.wait()).expect("not broken");
            if index == 0 {
                l.fetch_add(1, SeqCst);
            }
        }
    });
    assert_eq!(leaders.load(SeqCst), 3, "one index 0 per round");
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn bounded_queue_passes_every_item_once() {
    let q = Arc::new(Queue::new(2));
    let producers: Vec<_> = (0..THREADS)
        .map(|i| {
            let q = q.clone();
            thread::spawn(move || {
                block_on(async {
                    for r in 0..ROUNDS {
                        q.put(Box::new(i * ROUNDS + r)).await.expect("open");
                    }
                })
            })
        })
        .collect();
    let mut got: Vec<usize> = block_on(async {
        let mut got = Vec::new();
        for _ in 0..THREADS * ROUNDS {
            got.push(*q.get().await.expect("open"));
        }
        got
    });
    for p in producers {
        p.join().expect("producer");
    }
    got.sort_unstable();
    assert_eq!(got, (0..THREADS * ROUNDS).collect::<Vec<_>>());
    assert!(q.empty());
}
