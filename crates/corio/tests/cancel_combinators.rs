//! Combinators in a task cancelled cooperatively: `corio::gather` /
//! `gather!`, `corio::wait`, `corio::as_completed` and futures' `select`
//! complete the branches that are corio leaves as cancelled, drop the
//! branches they give up on (their destructors run, they leave the
//! primitives they waited in, nothing stays referenced), and the task still
//! resolves cancelled: the cancel is delivered through the combinator.
//!
//! The cancelled task's grace is an hour and nothing is ever released, so a
//! combinator that waited would fail the bound instead of passing slowly.

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{DropCounter, DropToken};
use corio::queue::Queue;
use corio::sync::Lock;
use corio::ReturnWhen;
use futures::future::{self, Either};

const HOUR: Duration = Duration::from_secs(3600);
/// Bound on waits that must end (a loaded 2-core machine stays far below).
const BOUND: Duration = Duration::from_secs(20);

/// Wait (with a bound) until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + BOUND;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        corio::sleep(Duration::from_millis(1)).await;
    }
}

/// Spawns `body` in a cooperative task (grace: `grace`), cancels the task once
/// `body` reports (through the flag it is given) that it is waiting, and
/// checks the task resolves cancelled within the bound.
async fn cancel_while<F, Fut>(grace: Duration, body: F)
where
    F: FnOnce(Arc<AtomicBool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let waiting = Arc::new(AtomicBool::new(false));
    let task = corio::TaskBuilder::new()
        .cancel_grace(grace)
        .spawn(body(waiting.clone()));
    until("the body to wait", || waiting.load(Ordering::SeqCst)).await;
    assert!(task.cancel());
    let out = corio::wait_for(task, BOUND)
        .await
        .expect("resolved without waiting for the grace");
    assert!(out.unwrap_err().is_cancelled(), "the cancel was lost");
}

/// A branch that is no corio leaf and ignores the cancel: it never completes
/// and only its drop (counted by `token`) ends it.
async fn ignores_the_cancel(token: DropToken) -> Result<(), ()> {
    let _token = token;
    future::pending::<()>().await;
    Ok(())
}

/// The shared state a test's branches wait on: a held lock, an empty queue.
struct Waits {
    lock: Arc<Lock<()>>,
    queue: Queue<u8>,
}

impl Waits {
    fn new() -> Self {
        let lock = Arc::new(Lock::new(()));
        std::mem::forget(lock.try_acquire().expect("free")); // held for good
        Waits {
            lock,
            queue: Queue::new(0),
        }
    }

    /// Nobody is left queued and nothing else references the lock.
    fn assert_left(&self) {
        assert_eq!(self.lock.waiters(), 0, "a dropped acquire stayed queued");
        assert!(
            format!("{:?}", self.queue).contains("getters: 0"),
            "a dropped get stayed queued: {:?}",
            self.queue
        );
        assert_eq!(Arc::strong_count(&self.lock), 1, "a branch leaked");
    }
}

/// The frame of every test here: `body` gets the shared waits, `N` drop
/// tokens for its branches and the flag to set once it waits; it runs in a
/// cooperative task (grace: `grace`) that is then cancelled. Afterwards every
/// token was dropped and every waiter left.
async fn in_cancelled_task<const N: usize, F, Fut>(grace: Duration, body: F)
where
    F: FnOnce(Arc<Waits>, [DropToken; N], Arc<AtomicBool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let w = Arc::new(Waits::new());
    let drops = DropCounter::default();
    let (ws, tokens) = (w.clone(), std::array::from_fn(|_| drops.token()));
    cancel_while(grace, move |waiting| body(ws, tokens, waiting)).await;
    assert_eq!(drops.get(), N, "a branch was not dropped");
    w.assert_left();
}

/// A boxed branch, so that branches of different shapes share one type.
type Branch<'a> = std::pin::Pin<Box<dyn Future<Output = Result<(), ()>> + Send + 'a>>;

#[test]
fn select_drops_the_losing_branch() {
    common::run(
        60,
        in_cancelled_task(HOUR, |ws, [token]: [DropToken; 1], waiting| async move {
            let lock = ws.lock.clone();
            // Both branches wait; the cancel completes the first, the other
            // (which would never complete) is dropped by `select`.
            // Boxed, so that `select` owns them and dropping one drops it.
            let first = Box::pin(async move {
                let _held = lock; // dropped with the branch
                corio::sleep(HOUR).await;
            });
            let second = Box::pin(ignores_the_cancel(token));
            waiting.store(true, Ordering::SeqCst);
            match future::select(first, second).await {
                Either::Left(((), other)) => drop(other),
                Either::Right(_) => panic!("the branch that ignores the cancel completed"),
            }
            // Two corio leaves: the first polled completes as cancelled, the
            // other is dropped and leaves its queue.
            match future::select(ws.lock.acquire(), ws.queue.get()).await {
                Either::Left((r, get)) => {
                    assert!(r.is_err());
                    drop(get);
                }
                Either::Right(_) => panic!("select polls its first branch first"),
            }
            ws.assert_left();
        }),
    );
}

#[test]
fn futures_select_macro_drops_the_other_branches() {
    common::run(
        60,
        in_cancelled_task(HOUR, |ws, [token]: [DropToken; 1], waiting| async move {
            use futures::FutureExt;
            let mut acquire = ws.lock.acquire().fuse();
            let mut get = ws.queue.get().fuse();
            let mut pending = Box::pin(ignores_the_cancel(token).fuse());
            waiting.store(true, Ordering::SeqCst);
            let which = futures::select_biased! {
                r = acquire => { assert!(r.is_err()); "acquire" }
                r = get => { assert!(r.unwrap_err().is_cancelled()); "get" }
                _ = pending => "pending",
            };
            assert_eq!(which, "acquire");
            drop((acquire, get, pending));
            ws.assert_left();
        }),
    );
}

#[test]
fn gather_completes_every_leaf_branch_as_cancelled() {
    common::run(
        60,
        in_cancelled_task(HOUR, |ws, [a, b, c]: [DropToken; 3], waiting| async move {
            waiting.store(true, Ordering::SeqCst);
            let (slept, acquired, got) = corio::gather!(
                async move {
                    let _a = a;
                    corio::sleep(HOUR).await;
                    corio::cancel::is_cancelled()
                },
                async {
                    let _b = b;
                    ws.lock.acquire().await.is_err()
                },
                async {
                    let _c = c;
                    ws.queue.get().await.is_err_and(|e| e.is_cancelled())
                },
            );
            assert!(slept && acquired && got, "{slept} {acquired} {got}");
            // The Vec form, three leaves of one type.
            let outs = corio::gather((0..3).map(|_| ws.lock.acquire())).await;
            assert!(outs.iter().all(Result::is_err));
            ws.assert_left();
        }),
    );
}

#[test]
fn gather_with_a_branch_that_ignores_the_cancel_is_dropped_at_the_grace() {
    let grace = Duration::from_millis(50);
    common::run(60, async move {
        let start = Instant::now();
        in_cancelled_task(grace, |ws, [a, b]: [DropToken; 2], waiting| async move {
            waiting.store(true, Ordering::SeqCst);
            let _ = corio::gather!(
                async move {
                    let _a = a;
                    ws.lock.acquire().await.is_err()
                },
                ignores_the_cancel(b),
            );
            unreachable!("gather cannot finish: one branch ignores the cancel");
        })
        .await;
        assert!(start.elapsed() >= grace, "dropped before the grace ended");
    });
}

#[test]
fn wait_returns_the_cancelled_branches_and_the_rest_are_dropped() {
    common::run(
        60,
        in_cancelled_task(HOUR, |ws, [token]: [DropToken; 1], waiting| async move {
            let branches: Vec<Branch<'_>> = vec![
                Box::pin(async { ws.lock.acquire().await.map(drop).map_err(drop) }),
                Box::pin(ignores_the_cancel(token)),
                Box::pin(async { ws.queue.get().await.map(drop).map_err(drop) }),
            ];
            waiting.store(true, Ordering::SeqCst);
            let (done, pending) = corio::wait(branches, ReturnWhen::AllCompleted)
                .timeout(HOUR)
                .await;
            // AllCompleted cannot hold (one branch ignores the cancel), but the
            // timeout is a sleep: the cancel ends the wait at once.
            assert!(done.iter().all(|(_, r)| r.is_err()));
            let indices: Vec<usize> = done.iter().map(|(i, _)| *i).collect();
            assert_eq!(indices, [0, 2]);
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].0, 1);
            drop(pending);
            ws.assert_left();
        }),
    );
}

#[test]
fn as_completed_yields_the_cancelled_branches_and_drops_the_rest() {
    common::run(
        60,
        in_cancelled_task(HOUR, |ws, [token]: [DropToken; 1], waiting| async move {
            let branches: Vec<Branch<'_>> = vec![
                Box::pin(ignores_the_cancel(token)),
                Box::pin(async { ws.lock.acquire().await.map(drop).map_err(drop) }),
                Box::pin(async { ws.queue.get().await.map(drop).map_err(drop) }),
            ];
            let mut stream = corio::as_completed(branches);
            waiting.store(true, Ordering::SeqCst);
            let mut order = Vec::new();
            for _ in 0..2 {
                let (i, r) = stream.next_completed().await.expect("a branch completed");
                assert!(r.is_err());
                order.push(i);
            }
            assert_eq!(order, [1, 2]);
            // The third would never come: dropping the stream drops it.
            drop(stream);
            ws.assert_left();
        }),
    );
}
