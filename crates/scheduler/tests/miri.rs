//! Miri-sized tests: every piece of the scheduler that touches raw task pointers or
//! shared queues, with counts small enough for Miri (`bash ci/miri.sh` runs this file
//! under `cargo +nightly miri test -p corio-scheduler --test miri`).
//!
//! What each test reaches, so Miri checks it for undefined behaviour, leaks and data
//! races:
//! - the LIFO slot (`src/lifo.rs`, `Runnable::into_raw`/`from_raw` through an
//!   `AtomicPtr`): put (spawn from inside), take by the owner, displacement of the slot
//!   task into the local queue, steal by the other worker, drop at shutdown;
//! - crossbeam-deque's local queues (push, pop, `steal_batch_and_pop` between two
//!   workers) and the injector (spawn from outside);
//! - the executor: spawn from inside and outside, `block_on` on both flavors, shutdown
//!   with tasks still queued in the injector, a local queue and a LIFO slot.
//!
//! Every wait is either on the executor (`block_on`) or a `yield_now` loop on a flag
//! another thread sets, so the tests finish with Miri's random preemption on (as
//! ci/miri.sh runs them, under several seeds) or off (`-Zmiri-preemption-rate=0`). The
//! counts are the same under plain `cargo test`, where the whole file takes well under
//! a second.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{with_timeout, yield_now};
use corio_scheduler::{Builder, Handle};

/// Generous: Miri runs these tests about 1000x slower than a debug build (a hang still
/// fails, and Miri itself reports a deadlock as soon as every thread is blocked).
const TIMEOUT_SECS: u64 = 600;

/// Counts drops of a task's future.
struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Yields this thread until `flag` is set (never blocks, and works even with Miri's
/// preemption off: the thread that sets the flag gets to run at each yield).
fn wait_for(flag: &AtomicBool) {
    while !flag.load(Acquire) {
        std::thread::yield_now();
    }
}

/// LIFO slot on one worker: a task spawns A (into the empty slot), then B (displaces
/// A into the local queue); the owner takes B from the slot and pops A from the queue.
/// With a single worker nobody can steal, so B runs first.
#[test]
fn lifo_slot_put_displace_take() {
    with_timeout(TIMEOUT_SECS, || {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let o = order.clone();
        let (a, b) = ex
            .block_on(ex.spawn(async move {
                let handle = Handle::try_current().unwrap();
                let oa = o.clone();
                let a = handle.spawn(async move { oa.lock().unwrap().push('A') });
                let b = handle.spawn(async move { o.lock().unwrap().push('B') });
                (a, b)
            }))
            .unwrap();
        ex.block_on(async {
            a.await.unwrap();
            b.await.unwrap();
        });
        assert_eq!(*order.lock().unwrap(), ['B', 'A'], "slot task runs first");
    });
}

/// Two workers, one stuck: a task spawns children from inside (the last one in its
/// worker's LIFO slot, the rest in its local queue), then blocks its worker until all
/// of them ran. Only the other worker can run them, so it must steal the queue
/// (`steal_batch_and_pop`) and the slot (the owner is stuck in a long poll).
#[test]
fn stealing_between_two_workers_queue_and_lifo_slot() {
    with_timeout(TIMEOUT_SECS, || {
        // 8 children: more than one steal batch's worth is not needed to reach every
        // path (batch steal, pop from the thief's own queue, slot steal).
        const CHILDREN: usize = 8;
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let on_owner = Arc::new(AtomicUsize::new(0));
        let all_ran = Arc::new(AtomicBool::new(false));
        let (r, o, done) = (ran.clone(), on_owner.clone(), all_ran.clone());
        let parent = ex.spawn(async move {
            let handle = Handle::try_current().unwrap();
            let me = std::thread::current().id();
            for _ in 0..CHILDREN {
                let (r, o, done) = (r.clone(), o.clone(), done.clone());
                handle.spawn(async move {
                    // Counted, not asserted here: a panic in a task would only be
                    // caught, and the parent would then wait forever.
                    if std::thread::current().id() == me {
                        o.fetch_add(1, SeqCst);
                    }
                    if r.fetch_add(1, SeqCst) + 1 == CHILDREN {
                        done.store(true, Release);
                    }
                });
            }
            // A long poll: this worker runs nothing else until the children ran.
            wait_for(&done);
        });
        ex.block_on(parent).unwrap();
        assert_eq!(ran.load(SeqCst), CHILDREN);
        assert_eq!(on_owner.load(SeqCst), 0, "the owner was stuck");
        assert!(ex.metrics().steals() >= 2, "a batch steal and a slot steal");
    });
}

/// Tasks spawned from outside (the injector) and from inside (slots and local queues)
/// on two workers, each yielding once (a wake while running: back of the queue): each
/// runs exactly once and `block_on` collects every output.
#[test]
fn spawn_inside_and_outside_run_once() {
    with_timeout(TIMEOUT_SECS, || {
        // Small on purpose: Miri interprets every poll.
        const OUTSIDE: usize = 10;
        const INSIDE: usize = 10;
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let outside: Vec<_> = (0..OUTSIDE)
            .map(|i| {
                let runs = runs.clone();
                ex.spawn(async move {
                    yield_now().await;
                    runs.fetch_add(1, SeqCst);
                    i
                })
            })
            .collect();
        let r = runs.clone();
        let inside = ex.spawn(async move {
            let handle = Handle::try_current().unwrap();
            let tasks: Vec<_> = (0..INSIDE)
                .map(|i| {
                    let runs = r.clone();
                    handle.spawn(async move {
                        yield_now().await;
                        runs.fetch_add(1, SeqCst);
                        OUTSIDE + i
                    })
                })
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            sum
        });
        let sum = ex.block_on(async {
            let mut sum = inside.await.unwrap();
            for t in outside {
                sum += t.await.unwrap();
            }
            sum
        });
        let n = OUTSIDE + INSIDE;
        assert_eq!(sum, n * (n - 1) / 2);
        assert_eq!(runs.load(SeqCst), n);
        assert_eq!(ex.metrics().alive_tasks(), 0);
    });
}

/// `block_on` on both flavors: a future woken from a task on a worker (multi-thread)
/// and from another OS thread (current-thread, which also runs the tasks).
#[test]
fn block_on_both_flavors() {
    with_timeout(TIMEOUT_SECS, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let (tx, rx) = futures::channel::oneshot::channel();
        ex.spawn(async move {
            yield_now().await;
            let _ = tx.send(7);
        });
        assert_eq!(ex.block_on(rx).unwrap(), 7);
        drop(ex);

        let ex = Builder::new().current_thread().build().unwrap();
        let handle = ex.handle().clone();
        let (tx, rx) = futures::channel::oneshot::channel();
        let spawner = std::thread::spawn(move || {
            let t = handle.spawn(async { 9 });
            let _ = tx.send(t);
        });
        let v = ex.block_on(async { rx.await.unwrap().await.unwrap() });
        assert_eq!(v, 9);
        spawner.join().unwrap();
    });
}

/// Multi-thread shutdown with tasks queued everywhere: the only worker is stuck in a
/// task that spawned children from inside (one in the LIFO slot, the rest in the local
/// queue), and more tasks wait in the injector. Once the shutdown began the worker is
/// released and drops its slot and queue on the way out; then the shutdown drops the
/// injector's tasks. No task runs, every future is dropped once, every `Task` is
/// cancelled, and the worker is joined (no detached thread left behind for Miri's leak
/// check).
#[test]
fn shutdown_drops_queued_tasks_multi_thread() {
    with_timeout(TIMEOUT_SECS, || {
        const LOCAL: usize = 4; // 1 in the slot, 3 in the local queue
        const INJECTED: usize = 4;
        // No stall monitor: once the stuck worker's poll passes its threshold (10 ms,
        // soon on a loaded machine and at once on Miri's virtual clock) it would start
        // an extra worker that runs the queued tasks this test wants shutdown to drop.
        let ex = Builder::new()
            .worker_threads(1)
            .stall_threshold(None)
            .build()
            .unwrap();
        let local_drops = Arc::new(AtomicUsize::new(0));
        let injected_drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let release = Arc::new(AtomicBool::new(false));
        let (d, r, rel) = (local_drops.clone(), ran.clone(), release.clone());
        let blocker = ex.spawn(async move {
            let handle = Handle::try_current().unwrap();
            let children: Vec<_> = (0..LOCAL)
                .map(|_| {
                    let (guard, r) = (CountDrop(d.clone()), r.clone());
                    handle.spawn(async move {
                        let _guard = guard;
                        r.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            started_tx.send(children).unwrap();
            wait_for(&rel); // the worker is stuck until the shutdown began
        });
        let children = started_rx.recv().unwrap();
        let injected: Vec<_> = (0..INJECTED)
            .map(|_| {
                let (guard, r) = (CountDrop(injected_drops.clone()), ran.clone());
                ex.spawn(async move {
                    let _guard = guard;
                    r.fetch_add(1, SeqCst);
                })
            })
            .collect();
        // Release the worker once the shutdown has begun: a spawn through a handle
        // then returns an already-cancelled task. (The shutdown drops the injector's
        // tasks only after the workers exited, so waiting for those drops would hang.)
        let (handle, rel) = (ex.handle().clone(), release.clone());
        let releaser = std::thread::spawn(move || {
            while !handle.spawn(async {}).is_cancelled() {
                std::thread::yield_now();
            }
            rel.store(true, Release);
        });
        assert!(
            ex.shutdown_timeout(Duration::from_secs(TIMEOUT_SECS)),
            "the worker stopped and was joined"
        );
        releaser.join().unwrap();
        assert_eq!(ran.load(SeqCst), 0, "no queued task ran");
        assert_eq!(injected_drops.load(SeqCst), INJECTED);
        assert_eq!(local_drops.load(SeqCst), LOCAL);
        assert!(children.iter().chain(&injected).all(|t| t.is_cancelled()));
        // The blocker finished its poll normally before the worker exited.
        assert!(futures::executor::block_on(blocker).is_ok());
    });
}

/// Current-thread shutdown: tasks queued with nobody in `block_on` are dropped with
/// the executor and their `Task`s resolve `Err(Cancelled)`.
#[test]
fn shutdown_drops_queued_tasks_current_thread() {
    with_timeout(TIMEOUT_SECS, || {
        const N: usize = 8;
        let ex = Builder::new().current_thread().build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let guard = CountDrop(drops.clone());
                ex.spawn(async move {
                    let _guard = guard;
                })
            })
            .collect();
        drop(ex);
        assert_eq!(drops.load(SeqCst), N);
        for t in tasks {
            let err = futures::executor::block_on(t).unwrap_err();
            assert!(err.is_cancelled());
        }
    });
}
