//! Cooperative cancellation of the waits in `corio::sync`, `corio::queue` and
//! `Deferred`: in a cancelled task each completes at once with an outcome the
//! task sees (`Err(Cancelled)` for a guard or permit, a cancelled form
//! of a wait's error, an early return for a wait whose output is `()`), on
//! every later await too; inside `cleanup` and `shield` each waits normally;
//! and the primitive stays consistent and usable: a wake-up or permit handed
//! to a waiter that is then cancelled is passed on.
//!
//! "At once" is checked without a clock: the cancelled task's grace is an
//! hour, the primitive is never released, and each wait must be `Ready` at
//! its first poll (a waiting leaf would need a wake-up that never comes).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corio::cancel::Cancelled;
use corio::queue::{Container, GenericQueue, LifoQueue, PriorityQueue, Queue};
use corio::sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore};
use corio::{Deferred, TaskBuilder, TaskError};
use futures::future::BoxFuture;
use futures::StreamExt;

const HOUR: Duration = Duration::from_secs(3600);
/// Bound on waits that must end (a loaded 2-core machine stays far below).
const BOUND: Duration = Duration::from_secs(20);

/// One wait on a primitive; its output says whether it completed as
/// cancelled (`Err(Cancelled)`, an error whose `is_cancelled()` is true, or, for a wait
/// whose output is `()`, returning while the task reads as cancelled).
type Wait = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

fn wait<F, Fut>(f: F) -> Wait
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    Arc::new(move || Box::pin(f()))
}

/// Wait (with a bound) until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + BOUND;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        corio::sleep(Duration::from_millis(1)).await;
    }
}

pin_project_lite::pin_project! {
    /// Counts the polls of a task's future.
    struct CountPolls<F> {
        #[pin]
        fut: F,
        polls: Arc<AtomicUsize>,
    }
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.polls.fetch_add(1, Ordering::SeqCst);
        this.fut.poll(cx)
    }
}

/// Spawns `body` in a cooperative task (grace: one hour) after an hour-long
/// sleep, cancels the task while it sleeps, and returns its outcome and the
/// number of polls it needed after the cancel.
async fn cancel_then(body: BoxFuture<'static, ()>) -> (Result<(), TaskError>, usize) {
    let polls = Arc::new(AtomicUsize::new(0));
    let sleeping = Arc::new(AtomicBool::new(false));
    let s = sleeping.clone();
    let task = TaskBuilder::new().cancel_grace(HOUR).spawn(CountPolls {
        fut: async move {
            s.store(true, Ordering::SeqCst);
            corio::sleep(HOUR).await; // returns early on the cancel
            body.await
        },
        polls: polls.clone(),
    });
    until("the task to sleep", || sleeping.load(Ordering::SeqCst)).await;
    let before = polls.load(Ordering::SeqCst);
    assert!(task.cancel());
    let out = corio::wait_for(task, BOUND)
        .await
        .expect("resolved without waiting for the hour of grace");
    (out, polls.load(Ordering::SeqCst) - before)
}

/// Three of the wait in a row after the cancel: each is `Ready` at its first
/// poll with a cancelled outcome the task sees, and the code after each runs
/// (the task handles the cancel; it is not ended at the await). The task
/// then resolves cancelled, without having waited.
async fn completes_cancelled(name: &str, w: Wait) {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let (out, polls) = cancel_then(Box::pin(async move {
        for _ in 0..3 {
            match futures::poll!(w()) {
                Poll::Ready(true) => s.fetch_add(1, Ordering::SeqCst),
                Poll::Ready(false) => panic!("completed as if not cancelled"),
                Poll::Pending => panic!("waited"),
            };
        }
    }))
    .await;
    assert!(out.unwrap_err().is_cancelled(), "{name}");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "{name}");
    assert_eq!(polls, 1, "{name}: the task waited after the cancel");
}

/// Where a cancelled task runs a wait normally.
#[derive(Clone, Copy, Debug)]
enum Shelter {
    /// `corio::cleanup(wait)`: inside the task, the flag held off.
    Cleanup,
    /// `corio::shield(wait)`: the wait runs as its own task.
    Shield,
}

/// Inside a shelter the wait of a cancelled task waits normally (until
/// `release` is called, once `waiting` shows it queued) and completes with
/// its normal outcome; the cancel is delivered again by the next wait after.
async fn waits_sheltered(
    name: &str,
    how: Shelter,
    w: Wait,
    waiting: impl Fn() -> bool,
    release: impl FnOnce(),
) {
    let inside = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicBool::new(false));
    let (i, d) = (inside.clone(), delivered.clone());
    let sleeping = Arc::new(AtomicBool::new(false));
    let s = sleeping.clone();
    let task = TaskBuilder::new().cancel_grace(HOUR).spawn(async move {
        s.store(true, Ordering::SeqCst);
        corio::sleep(HOUR).await;
        let cancelled = match how {
            Shelter::Cleanup => corio::cleanup(w()).await,
            Shelter::Shield => corio::shield(w()).await.expect("shielded task"),
        };
        assert!(!cancelled, "the sheltered wait completed as cancelled");
        i.store(true, Ordering::SeqCst);
        // The cancel again, after the shelter.
        d.store(futures::poll!(w()) == Poll::Ready(true), Ordering::SeqCst);
    });
    until("the task to sleep", || sleeping.load(Ordering::SeqCst)).await;
    task.cancel();
    until("the sheltered wait to queue", &waiting).await;
    assert!(
        !task.done(),
        "{name} {how:?}: the sheltered wait did not wait"
    );
    assert!(!inside.load(Ordering::SeqCst), "{name} {how:?}");
    release();
    let out = corio::wait_for(task, BOUND).await.expect("resolved");
    assert!(out.unwrap_err().is_cancelled(), "{name} {how:?}");
    assert!(inside.load(Ordering::SeqCst), "{name} {how:?}");
    assert!(delivered.load(Ordering::SeqCst), "{name} {how:?}");
}

/// True for `Err(Cancelled)` (a guard's or permit's wait).
fn cancelled<T>(r: Result<T, Cancelled>) -> bool {
    r.is_err()
}

const SHELTERS: [Shelter; 2] = [Shelter::Cleanup, Shelter::Shield];

#[test]
fn lock_waits() {
    common::run(60, async {
        let lock = Arc::new(Lock::new(0u32));
        let held = lock.clone().acquire_owned().await.unwrap();
        let l = lock.clone();
        let owned = wait(move || {
            let l = l.clone();
            async move { cancelled(l.acquire_owned().await) }
        });
        completes_cancelled("Lock::acquire_owned", owned.clone()).await;
        let l = lock.clone();
        let plain = wait(move || {
            let l = l.clone();
            async move { cancelled(l.acquire().await) }
        });
        completes_cancelled("Lock::acquire", plain.clone()).await;
        assert_eq!(lock.waiters(), 0);
        // A free lock is not taken by a cancelled task either.
        drop(held);
        completes_cancelled("Lock::acquire (free)", plain.clone()).await;
        assert!(!lock.locked());
        for (how, w) in SHELTERS.into_iter().zip([plain, owned]) {
            let held = lock.clone().acquire_owned().await.unwrap();
            let l = lock.clone();
            waits_sheltered("Lock", how, w, || l.waiters() == 1, || drop(held)).await;
        }
        // Usable afterwards, data untouched by the cancelled waiters.
        assert_eq!(*lock.acquire().await.unwrap(), 0);
        assert!(!lock.locked());
    });
}

#[test]
fn semaphore_waits() {
    common::run(60, async {
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().acquire_owned().await.unwrap();
        let s = sem.clone();
        let owned = wait(move || {
            let s = s.clone();
            async move { cancelled(s.acquire_owned().await) }
        });
        completes_cancelled("Semaphore::acquire_owned", owned.clone()).await;
        let s = sem.clone();
        let plain = wait(move || {
            let s = s.clone();
            async move { cancelled(s.acquire().await) }
        });
        completes_cancelled("Semaphore::acquire", plain.clone()).await;
        drop(held);
        completes_cancelled("Semaphore::acquire (free)", owned.clone()).await;
        for (how, w) in SHELTERS.into_iter().zip([owned, plain]) {
            let held = sem.clone().acquire_owned().await.unwrap();
            let s = sem.clone();
            waits_sheltered("Semaphore", how, w, || s.waiters() == 1, || drop(held)).await;
        }
        assert_eq!(sem.available_permits(), 1, "a permit was lost");
        assert_eq!(sem.waiters(), 0);
        drop(sem.acquire().await.unwrap());
    });
}

#[test]
fn bounded_semaphore_waits() {
    common::run(60, async {
        let sem = Arc::new(BoundedSemaphore::new(1));
        let s = sem.clone();
        let plain = wait(move || {
            let s = s.clone();
            async move { cancelled(s.acquire().await) }
        });
        completes_cancelled("BoundedSemaphore::acquire (free)", plain.clone()).await;
        sem.try_acquire().expect("free").forget();
        completes_cancelled("BoundedSemaphore::acquire", plain.clone()).await;
        for how in SHELTERS {
            let (s, r) = (sem.clone(), sem.clone());
            waits_sheltered(
                "BoundedSemaphore",
                how,
                plain.clone(),
                || s.waiters() == 1,
                || r.release().expect("within the bound"),
            )
            .await;
            sem.try_acquire().expect("released").forget();
        }
        sem.release().expect("within the bound");
        assert_eq!(sem.available_permits(), 1, "a permit was lost");
        assert!(sem.release().is_err(), "a permit was created");
    });
}

#[test]
fn condition_waits() {
    common::run(60, async {
        let cond = Arc::new(Condition::new(0u32));
        let c = cond.clone();
        let plain = wait(move || {
            let c = c.clone();
            async move {
                // Taken sheltered: the wait, not the lock, is under test.
                let guard = corio::cleanup(c.acquire()).await.unwrap();
                cancelled(c.wait(guard).await)
            }
        });
        completes_cancelled("Condition::wait", plain.clone()).await;
        assert!(!cond.locked(), "the cancelled waiter kept the lock");
        assert_eq!(cond.waiters(), 0);
        let c = cond.clone();
        let wait_for = wait(move || {
            let c = c.clone();
            async move {
                let guard = corio::cleanup(c.acquire()).await.unwrap();
                cancelled(c.wait_for(guard, |n| *n > 0).await)
            }
        });
        completes_cancelled("Condition::wait_for", wait_for).await;
        assert!(!cond.locked(), "the cancelled waiter kept the lock");
        for how in SHELTERS {
            let (c, n) = (cond.clone(), cond.clone());
            waits_sheltered(
                "Condition",
                how,
                plain.clone(),
                || c.waiters() == 1,
                || {
                    assert_eq!(n.notify(1), 1);
                },
            )
            .await;
        }
        assert!(!cond.locked());
        assert_eq!(*cond.acquire().await.unwrap(), 0);
    });
}

#[test]
fn event_waits() {
    common::run(60, async {
        let event = Arc::new(Event::new());
        let e = event.clone();
        let plain = wait(move || {
            let e = e.clone();
            async move {
                e.wait().await;
                corio::cancel::is_cancelled() // `()` says nothing: the task's flag does
            }
        });
        completes_cancelled("Event::wait", plain.clone()).await;
        for how in SHELTERS {
            let (e, s) = (event.clone(), event.clone());
            waits_sheltered(
                "Event",
                how,
                plain.clone(),
                || format!("{e:?}").contains("waiters: 1"),
                || s.set(),
            )
            .await;
            event.clear();
        }
        assert!(format!("{event:?}").contains("waiters: 0"), "{event:?}");
    });
}

#[test]
fn barrier_waits() {
    common::run(60, async {
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let plain = wait(move || {
            let b = b.clone();
            async move { b.wait().await.is_err_and(|e| e.is_cancelled()) }
        });
        completes_cancelled("Barrier::wait", plain.clone()).await;
        assert_eq!(
            barrier.n_waiting(),
            0,
            "the cancelled waiter stayed in the round"
        );
        for how in SHELTERS {
            let (b, other) = (barrier.clone(), barrier.clone());
            let (tx, rx) = futures::channel::oneshot::channel();
            waits_sheltered(
                "Barrier",
                how,
                plain.clone(),
                || b.n_waiting() == 1,
                move || {
                    // The partner and the sheltered waiter release each other.
                    let partner = corio::create_task(async move { other.wait().await });
                    let _ = tx.send(partner);
                },
            )
            .await;
            let partner = rx.await.expect("released");
            let r = corio::wait_for(partner, BOUND).await.expect("released");
            assert!(r.unwrap().is_ok());
            assert!(!barrier.broken());
            assert_eq!(barrier.n_waiting(), 0);
        }
    });
}

/// Get, put, join and the stream of one queue kind.
async fn queue_waits<C: Container<Item = u32> + Send + Sync + 'static>(
    kind: &str,
    new: fn(usize) -> GenericQueue<C>,
) {
    // get on an empty queue, then on one with an item (not taken)
    let q = new(1);
    let g = q.clone();
    let get: Wait = wait(move || {
        let g = g.clone();
        async move { g.get().await.is_err_and(|e| e.is_cancelled()) }
    });
    completes_cancelled(&format!("{kind}::get"), get.clone()).await;
    q.put_nowait(9).expect("room");
    completes_cancelled(&format!("{kind}::get (an item ready)"), get.clone()).await;
    assert_eq!(
        q.get_nowait().ok(),
        Some(9),
        "a cancelled get took the item"
    );
    // the stream ends
    let s = q.clone();
    completes_cancelled(
        "stream",
        wait(move || {
            let s = s.clone();
            async move { s.stream().next().await.is_none() }
        }),
    )
    .await;
    for how in SHELTERS {
        let (w, p) = (q.clone(), q.clone());
        waits_sheltered(
            &format!("{kind}: get"),
            how,
            get.clone(),
            || getters(&w) == 1,
            || {
                p.put_nowait(7).expect("room");
            },
        )
        .await;
        assert_eq!(q.qsize(), 0, "the sheltered get did not take the item");
    }

    // put on a full queue: the item comes back
    q.put_nowait(1).expect("room");
    let pq = q.clone();
    let put: Wait = wait(move || {
        let pq = pq.clone();
        async move {
            match pq.put(2).await {
                Err(e) if e.is_cancelled() => {
                    assert_eq!(e.into_inner(), 2, "the item came back");
                    true
                }
                _ => false,
            }
        }
    });
    completes_cancelled(&format!("{kind}::put"), put.clone()).await;
    assert_eq!(
        q.get_nowait().ok(),
        Some(1),
        "the cancelled put stored its item"
    );
    completes_cancelled(&format!("{kind}::put (room)"), put.clone()).await;
    assert!(q.empty(), "the cancelled put stored its item");
    for how in SHELTERS {
        q.put_nowait(1).expect("room");
        let (w, g) = (q.clone(), q.clone());
        waits_sheltered(
            &format!("{kind}: put"),
            how,
            put.clone(),
            || putters(&w) == 1,
            || {
                assert_eq!(g.get_nowait().ok(), Some(1));
            },
        )
        .await;
        assert_eq!(
            q.get_nowait().ok(),
            Some(2),
            "the sheltered put stored its item"
        );
    }

    // join with unfinished items
    let j = q.clone();
    completes_cancelled(
        "join",
        wait(move || {
            let j = j.clone();
            async move {
                j.join().await;
                corio::cancel::is_cancelled()
            }
        }),
    )
    .await;

    // Usable afterwards.
    q.put_nowait(3).expect("room");
    assert_eq!(q.get().await.ok(), Some(3));
}

fn getters<C: Container>(q: &GenericQueue<C>) -> usize {
    field(&format!("{q:?}"), "getters")
}

fn putters<C: Container>(q: &GenericQueue<C>) -> usize {
    field(&format!("{q:?}"), "putters")
}

/// A number after `name: ` in a Debug string.
fn field(dbg: &str, name: &str) -> usize {
    let pat = format!("{name}: ");
    let at = dbg
        .find(&pat)
        .unwrap_or_else(|| panic!("no {name} in {dbg}"))
        + pat.len();
    dbg[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {name} in {dbg}"))
}

#[test]
fn queue_waits_all_three_kinds() {
    common::run(120, async {
        queue_waits("Queue", Queue::<u32>::new).await;
        queue_waits("LifoQueue", LifoQueue::<u32>::new).await;
        queue_waits("PriorityQueue", PriorityQueue::<u32>::new).await;
    });
}

#[test]
fn deferred_wait() {
    common::run(60, async {
        let d = Deferred::<u32>::new();
        let w = d.clone();
        completes_cancelled(
            "Deferred",
            wait(move || {
                let w = w.clone();
                async move { w.await.is_err_and(|e| e.is_cancelled()) }
            }),
        )
        .await;
        assert!(!d.done(), "the awaiter's cancel touched the deferred");
        d.set_result(4).unwrap();
        assert_eq!(d.await.unwrap(), 4);
    });
}

/// Runs `body` as a task on a one-worker runtime: while it runs, no other
/// task does, so "hand over, then cancel" happens before the waiter polls.
fn on_one_worker<F: Future<Output = ()> + Send + 'static>(body: F) {
    common::timeout(60, || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(async { corio::create_task(body).await.unwrap() });
    })
}

/// Spawns a cooperative waiter (cancelled later) and a plain one, queued in
/// that order; returns their tasks.
async fn two_waiters(
    w: Wait,
    queued: impl Fn() -> usize,
) -> (corio::Task<bool>, corio::Task<bool>) {
    let w2 = w.clone();
    let first = TaskBuilder::new()
        .cancel_grace(HOUR)
        .spawn(async move { w().await });
    until("the first waiter to queue", || queued() == 1).await;
    let second = corio::create_task(async move { w2().await });
    until("the second waiter to queue", || queued() == 2).await;
    (first, second)
}

/// Two waiters queue; `hand_over` gives the first (the oldest) what it waits
/// for, and the first is cancelled before it runs: the second must get it.
async fn passed_on(w: Wait, queued: impl Fn() -> usize, hand_over: impl FnOnce()) {
    let (first, second) = two_waiters(w, queued).await;
    hand_over();
    first.cancel();
    let out = corio::wait_for(first, BOUND).await.expect("resolved");
    assert!(out.unwrap_err().is_cancelled());
    let out = corio::wait_for(second, BOUND).await.expect("passed on");
    assert!(!out.unwrap(), "the plain waiter completed as cancelled");
}

#[test]
fn lock_handed_to_a_cancelled_waiter_is_passed_on() {
    on_one_worker(async {
        let lock = Arc::new(Lock::new(()));
        let held = lock.clone().acquire_owned().await.unwrap();
        let (l, q) = (lock.clone(), lock.clone());
        let w = wait(move || {
            let l = l.clone();
            async move { cancelled(l.acquire_owned().await) }
        });
        passed_on(w, || q.waiters(), || drop(held)).await;
        assert!(!lock.locked());
    });
}

#[test]
fn permit_handed_to_a_cancelled_waiter_is_passed_on() {
    on_one_worker(async {
        let sem = Arc::new(Semaphore::new(0));
        let (s, q) = (sem.clone(), sem.clone());
        let w = wait(move || {
            let s = s.clone();
            async move { cancelled(s.acquire_owned().await) }
        });
        passed_on(w, || q.waiters(), || sem.release()).await;
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn notification_handed_to_a_cancelled_waiter_is_passed_on() {
    on_one_worker(async {
        let cond = Arc::new(Condition::new(()));
        let (c, q) = (cond.clone(), cond.clone());
        let w = wait(move || {
            let c = c.clone();
            async move {
                let g = c.acquire().await.unwrap();
                cancelled(c.wait(g).await)
            }
        });
        passed_on(w, || q.waiters(), || assert_eq!(cond.notify(1), 1)).await;
        assert!(!cond.locked());
    });
}

#[test]
fn queue_wake_ups_handed_to_cancelled_waiters_are_passed_on() {
    on_one_worker(async {
        let q = Queue::<u32>::new(1);
        let (g, w) = (q.clone(), q.clone());
        let get = wait(move || {
            let g = g.clone();
            async move {
                match g.get().await {
                    Ok(item) => {
                        assert_eq!(item, 5);
                        false
                    }
                    Err(e) => e.is_cancelled(),
                }
            }
        });
        passed_on(get, || getters(&w), || q.put_nowait(5).unwrap()).await;
        assert_eq!(q.qsize(), 0);

        q.put_nowait(1).unwrap();
        let (p, w) = (q.clone(), q.clone());
        let put = wait(move || {
            let p = p.clone();
            async move { p.put(6).await.is_err_and(|e| e.is_cancelled()) }
        });
        passed_on(
            put,
            || putters(&w),
            || assert_eq!(q.get_nowait().ok(), Some(1)),
        )
        .await;
        assert_eq!(q.get_nowait().ok(), Some(6));
        assert!(q.empty());
    });
}

#[test]
fn cancelled_barrier_waiter_leaves_the_round() {
    on_one_worker(async {
        let barrier = Arc::new(Barrier::new(3));
        let (b, q) = (barrier.clone(), barrier.clone());
        let (first, second) = two_waiters(
            wait(move || {
                let b = b.clone();
                async move { b.wait().await.is_err_and(|e| e.is_cancelled()) }
            }),
            || q.n_waiting(),
        )
        .await;
        first.cancel();
        assert!(corio::wait_for(first, BOUND)
            .await
            .unwrap()
            .unwrap_err()
            .is_cancelled());
        assert_eq!(barrier.n_waiting(), 1);
        // Two more arrivals complete the round with `second`.
        let third = corio::create_task({
            let b = barrier.clone();
            async move { b.wait().await.map(|_| ()) }
        });
        until("the third to queue", || barrier.n_waiting() == 2).await;
        assert!(!second.done(), "released one party short");
        barrier.wait().await.unwrap();
        assert!(!corio::wait_for(second, BOUND)
            .await
            .expect("released")
            .unwrap());
        corio::wait_for(third, BOUND)
            .await
            .expect("released")
            .unwrap()
            .unwrap();
    });
}
