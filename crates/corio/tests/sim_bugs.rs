//! Five planted concurrency bugs, each in a small program with a fixed twin.
//!
//! For each: random scheduling finds the bug within 1,000 seeds, PCT within
//! 100, the failing seed replays the same failure 10 of 10 times, and the
//! fixed program passes the same seeds (so the check is not one that always
//! fails). The seeds-to-find counts are printed (`--nocapture`).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use corio::sim::{CheckFailure, Config, SimErrorKind, Strategy};

const RANDOM_BUDGET: u64 = 1_000;
const PCT_BUDGET: u64 = 100;

/// Finds the bug under both strategies, replays it, and checks the fixed twin.
fn hunt<B, BF, G, GF>(name: &str, buggy: B, fixed: G, expect: SimErrorKind)
where
    B: Fn() -> BF,
    BF: Future<Output = ()> + 'static,
    G: Fn() -> GF,
    GF: Future<Output = ()> + 'static,
{
    for (strategy, budget) in [
        (Strategy::Random, RANDOM_BUDGET),
        (Strategy::Pct { depth: 3 }, PCT_BUDGET),
    ] {
        let config = Config::new()
            .strategy(strategy)
            .seeds(budget)
            .quiet_panics(true);
        let failure: CheckFailure = match config.try_check(&buggy) {
            Err(f) => f,
            Ok(_) => panic!("{name}: {strategy:?} did not find the bug in {budget} seeds"),
        };
        println!(
            "{name}: {strategy:?} found it at seed {} after {} seeds: {}",
            failure.seed(),
            failure.seeds_tried(),
            failure.error().message().lines().next().unwrap_or("")
        );
        assert_eq!(failure.error().kind(), expect, "{name}: {failure}");
        for _ in 0..10 {
            let again = config
                .clone()
                .replay_seed(failure.seed())
                .try_check(&buggy)
                .expect_err("the failing seed passed on replay");
            assert_eq!(again.error().kind(), failure.error().kind());
            assert_eq!(again.error().message(), failure.error().message());
            assert_eq!(again.error().trace(), failure.error().trace());
        }
        // The fixed program passes every seed the hunt needed (and more).
        let seeds = failure.seeds_tried().max(50);
        if let Err(f) = config.clone().seeds(seeds).try_check(&fixed) {
            panic!("{name}: the fixed program failed: {f}");
        }
    }
}

// 1. Lost wake-up: a one-shot signal whose waiter checks the flag, then (at
// a later poll) parks its waker without checking again. A `set` in between
// finds no waker and the waiter sleeps forever.

#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    async fn wait(&self, recheck: bool) {
        if self.set.load(Ordering::SeqCst) {
            return;
        }
        corio::yield_now().await; // e.g. a log line, a metric: any await
        let mut registered = false;
        std::future::poll_fn(|cx| {
            // Woken: the flag is set. (The bug: the first poll does not look.)
            if registered && self.set.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            registered = true;
            // The fix: look again once the waker is in place.
            if recheck && self.set.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
    }
}

async fn lost_wakeup(recheck: bool) {
    let sig = Arc::new(Signal::default());
    let s = sig.clone();
    let setter = corio::create_task(async move {
        corio::yield_now().await;
        s.set();
    });
    sig.wait(recheck).await;
    setter.await.unwrap();
}

#[test]
fn lost_wakeup_is_found() {
    hunt(
        "lost wake-up",
        || lost_wakeup(false),
        || lost_wakeup(true),
        SimErrorKind::Deadlock,
    );
}

// 2. Lock-order inversion: two tasks take the same two locks in opposite
// orders, with an await while holding the first.

async fn transfer(first: Arc<corio::sync::Lock<u32>>, second: Arc<corio::sync::Lock<u32>>) {
    let mut a = first.acquire().await.unwrap();
    corio::yield_now().await;
    let mut b = second.acquire().await.unwrap();
    *a -= 1;
    *b += 1;
}

async fn lock_order(consistent: bool) {
    let x = Arc::new(corio::sync::Lock::new(10));
    let y = Arc::new(corio::sync::Lock::new(10));
    let t1 = corio::create_task(transfer(x.clone(), y.clone()));
    let t2 = if consistent {
        corio::create_task(transfer(x.clone(), y.clone()))
    } else {
        corio::create_task(transfer(y.clone(), x.clone()))
    };
    t1.await.unwrap();
    t2.await.unwrap();
}

#[test]
fn lock_order_inversion_is_found_as_a_deadlock() {
    hunt(
        "lock-order inversion",
        || lock_order(false),
        || lock_order(true),
        SimErrorKind::Deadlock,
    );
}

// 3. Check-then-act on a queue: consumers check `empty()`, await something,
// then `get_nowait()` assuming the item is still there.

async fn consumers(atomic_take: bool) {
    let q = Arc::new(corio::queue::Queue::<u32>::new(0));
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    let taken = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (q, taken) = (q.clone(), taken.clone());
            corio::create_task(async move {
                if atomic_take {
                    if q.get_nowait().is_ok() {
                        taken.fetch_add(1, Ordering::SeqCst);
                    }
                    return;
                }
                if !q.empty() {
                    corio::yield_now().await; // e.g. "log: taking an item"
                    q.get_nowait()
                        .expect("the queue emptied between empty() and get_nowait()");
                    taken.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        if let Err(e) = t.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    assert_eq!(taken.load(Ordering::SeqCst), 2);
}

#[test]
fn check_then_act_on_a_queue_is_found() {
    hunt(
        "check-then-act",
        || consumers(false),
        || consumers(true),
        SimErrorKind::Panicked,
    );
}

// 4. Timeout race: a request times out exactly when the server applies it;
// the client assumes "timed out" means "not applied" and retries, so the
// write may be applied twice.

async fn timeout_retry(idempotent: bool) {
    let applied = Arc::new(AtomicUsize::new(0));
    let request = |applied: Arc<AtomicUsize>| {
        corio::create_task(async move {
            corio::sleep(Duration::from_millis(100)).await; // the server's latency
            if !idempotent || applied.load(Ordering::SeqCst) == 0 {
                applied.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let first = request(applied.clone());
    if corio::wait_for(first, Duration::from_millis(100))
        .await
        .is_err()
    {
        // "It did not happen": retry.
        request(applied.clone()).await.unwrap();
    }
    // Let anything still in flight land.
    corio::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        applied.load(Ordering::SeqCst),
        1,
        "the write was applied twice"
    );
}

#[test]
fn timeout_race_is_found() {
    hunt(
        "timeout race",
        || timeout_retry(false),
        || timeout_retry(true),
        SimErrorKind::Panicked,
    );
}

// 5. Shutdown race: handlers count themselves in flight from inside the task
// (Go's WaitGroup.Add in the goroutine); shutdown waits for the count to reach
// zero and may see zero before a handler has started.

async fn shutdown(count_before_spawn: bool) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let committed = Arc::new(AtomicUsize::new(0));
    for _ in 0..2 {
        let (in_flight, committed) = (in_flight.clone(), committed.clone());
        if count_before_spawn {
            in_flight.fetch_add(1, Ordering::SeqCst);
        }
        corio::create_task(async move {
            if !count_before_spawn {
                in_flight.fetch_add(1, Ordering::SeqCst);
            }
            corio::sleep(Duration::from_millis(5)).await; // the request's work
            committed.fetch_add(1, Ordering::SeqCst);
            in_flight.fetch_sub(1, Ordering::SeqCst);
        });
    }
    corio::yield_now().await; // accept loop's bookkeeping
                              // Graceful shutdown: wait for in-flight requests, then stop.
    while in_flight.load(Ordering::SeqCst) > 0 {
        corio::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        committed.load(Ordering::SeqCst),
        2,
        "shutdown finished with a request not committed"
    );
}

#[test]
fn shutdown_race_is_found() {
    hunt(
        "shutdown race",
        || shutdown(false),
        || shutdown(true),
        SimErrorKind::Panicked,
    );
}
