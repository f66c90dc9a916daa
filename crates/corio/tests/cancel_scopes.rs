//! Scopes that cancel their body (a task group whose child failed or that was
//! cancelled, an expired `timeout`/`wait_for`): with cooperative cancellation
//! on (a grace period for the task or the runtime) the body and the children
//! run their cleanup, bounded by the grace; with it off they are dropped, as
//! before. Bounds are generous (a loaded 2-core machine must pass): the
//! bodies would otherwise sleep for an hour.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::DropCounter;
use corio::TaskBuilder;

const HOUR: Duration = Duration::from_secs(3600);
/// Far above any scheduling delay of a loaded machine, far below an hour.
const BOUND: Duration = Duration::from_secs(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `fut` in a task with a cancellation grace of `grace` (`None`: a plain
/// task, cooperative cancellation off) and returns its output.
fn in_task<F>(grace: Option<Duration>, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    common::run(60, async move {
        let task = match grace {
            Some(g) => TaskBuilder::new().cancel_grace(g).spawn(fut),
            None => corio::create_task(fut),
        };
        corio::wait_for(task, BOUND)
            .await
            .expect("the task finished")
            .expect("the task was not cancelled")
    })
}

/// A child or body that sleeps an hour and then, once cancelled, runs a
/// cleanup that itself waits; counts finished cleanups.
async fn sleeper_with_cleanup(cleaned: Arc<AtomicUsize>) {
    corio::sleep(HOUR).await;
    assert!(corio::cancel::is_cancelled(), "woke without a cancel");
    corio::cleanup(corio::sleep(ms(5))).await;
    cleaned.fetch_add(1, Ordering::SeqCst);
}

/// A group with two sleeping children and a sleeping body; one more child
/// fails after 10 ms. Returns (failures, cleanups) after `run`.
async fn group_with_failure() -> (usize, usize) {
    let cleaned = Arc::new(AtomicUsize::new(0));
    let tg = corio::TaskGroup::new();
    let start = Instant::now();
    let r = tg
        .run(async {
            for _ in 0..2 {
                tg.create_task(sleeper_with_cleanup(cleaned.clone()));
            }
            tg.create_task(async {
                corio::sleep(ms(10)).await;
                panic!("child failed");
            });
            sleeper_with_cleanup(cleaned.clone()).await;
        })
        .await;
    assert!(
        start.elapsed() < BOUND,
        "the failure did not cancel promptly"
    );
    let failures = r.expect_err("a child failed").failures().len();
    (failures, cleaned.load(Ordering::SeqCst))
}

#[test]
fn task_group_body_and_children_get_their_cleanup() {
    // The children inherit the grace of the task that created them.
    let (failures, cleaned) = in_task(Some(Duration::from_secs(30)), group_with_failure());
    assert_eq!(failures, 1);
    assert_eq!(cleaned, 3, "body and both children ran their cleanup");
}

#[test]
fn task_group_body_and_children_get_their_cleanup_with_a_runtime_grace() {
    common::timeout(60, || {
        let rt = corio::Runtime::builder()
            .cancel_grace(Duration::from_secs(30))
            .build()
            .unwrap();
        // block_on's future is not a task: the runtime's grace applies.
        let (failures, cleaned) = rt.block_on(group_with_failure());
        assert_eq!(failures, 1);
        assert_eq!(cleaned, 3);
    });
}

#[test]
fn task_group_without_cooperative_cancellation_drops_body_and_children() {
    let (failures, cleaned) = in_task(None, group_with_failure());
    assert_eq!(failures, 1);
    assert_eq!(cleaned, 0, "a cleanup ran although cancellation drops");
}

#[test]
fn task_group_cancel_gives_the_body_its_cleanup() {
    let cleaned = in_task(Some(Duration::from_secs(30)), async {
        let cleaned = Arc::new(AtomicUsize::new(0));
        let tg = corio::TaskGroup::new();
        let r = tg
            .run(async {
                tg.create_task(sleeper_with_cleanup(cleaned.clone()));
                tg.cancel();
                sleeper_with_cleanup(cleaned.clone()).await;
            })
            .await;
        assert!(
            matches!(r, Ok(None)),
            "cancel() ends the group without an error"
        );
        // The task itself was not cancelled: its leaves wait again.
        assert!(!corio::cancel::is_cancelled());
        cleaned.load(Ordering::SeqCst)
    });
    assert_eq!(cleaned, 2);
}

#[test]
fn task_group_body_cleanup_that_never_ends_is_dropped_after_the_grace() {
    let grace = ms(50);
    let (took, drops) = in_task(Some(grace), async move {
        let drops = DropCounter::default();
        let token = drops.token();
        let tg = corio::TaskGroup::new();
        let start = Instant::now();
        let r = tg
            .run(async {
                let _t = token;
                tg.create_task(async { panic!("child failed") });
                corio::sleep(HOUR).await;
                corio::cleanup(std::future::pending::<()>()).await;
            })
            .await;
        assert!(r.is_err());
        (start.elapsed(), drops.get())
    });
    assert_eq!(drops, 1, "the body was dropped before run returned");
    assert!(took >= grace, "dropped before the grace ended: {took:?}");
    assert!(took < grace + BOUND, "{took:?}");
}

/// `timeout(20 ms)` around a body that sleeps an hour, then (cancelled)
/// runs a cleanup that waits 10 ms. Returns (result, cleaned, expired).
async fn expiring_timeout() -> (Result<u32, corio::TimeoutError>, bool, bool) {
    let cleaned = Arc::new(AtomicBool::new(false));
    let c = cleaned.clone();
    let cm = corio::timeout(ms(20));
    let r = cm
        .run(async move {
            corio::sleep(HOUR).await;
            corio::cleanup(async {
                corio::sleep(ms(10)).await;
                c.store(true, Ordering::SeqCst);
            })
            .await;
            5
        })
        .await;
    (r, cleaned.load(Ordering::SeqCst), cm.expired())
}

#[test]
fn expired_timeout_gives_its_body_its_cleanup() {
    let (r, cleaned, expired) = in_task(Some(Duration::from_secs(30)), async {
        let out = expiring_timeout().await;
        // Only the body was cancelled, not the task: a sleep waits again.
        let t = Instant::now();
        corio::sleep(ms(5)).await;
        assert!(t.elapsed() >= ms(5), "the task stayed cancelled");
        out
    });
    assert!(r.is_err(), "an expired timeout reports TimeoutError: {r:?}");
    assert!(
        cleaned,
        "the body's cleanup ran before the timeout returned"
    );
    assert!(expired);
}

#[test]
fn expired_timeout_without_cooperative_cancellation_drops_its_body() {
    let (r, cleaned, expired) = in_task(None, expiring_timeout());
    assert!(r.is_err());
    assert!(!cleaned, "a cleanup ran although cancellation drops");
    assert!(expired);
}

#[test]
fn expired_wait_for_gives_its_future_its_cleanup() {
    let (r, cleaned) = in_task(Some(Duration::from_secs(30)), async {
        let cleaned = Arc::new(AtomicBool::new(false));
        let c = cleaned.clone();
        let r = corio::wait_for(
            async move {
                corio::sleep(HOUR).await;
                corio::cleanup(corio::sleep(ms(10))).await;
                c.store(true, Ordering::SeqCst);
            },
            ms(20),
        )
        .await;
        (r, cleaned.load(Ordering::SeqCst))
    });
    assert!(r.is_err());
    assert!(cleaned);
}

#[test]
fn expired_timeout_body_cleanup_is_bounded_by_the_grace() {
    let grace = ms(50);
    let (r, took, drops) = in_task(Some(grace), async move {
        let drops = DropCounter::default();
        let token = drops.token();
        let start = Instant::now();
        let r = corio::wait_for(
            async move {
                let _t = token;
                corio::sleep(HOUR).await;
                corio::cleanup(std::future::pending::<()>()).await;
            },
            ms(10),
        )
        .await;
        (r, start.elapsed(), drops.get())
    });
    assert!(r.is_err());
    assert_eq!(drops, 1, "the body was dropped before wait_for returned");
    assert!(
        took >= ms(10) + grace,
        "dropped before the grace ended: {took:?}"
    );
    assert!(took < grace + BOUND, "{took:?}");
}

#[test]
fn expired_timeout_body_waiting_on_a_lock_sees_the_cancel() {
    // The lock's wait completes as cancelled at the deadline and the body
    // handles it, not after the hour of grace.
    let r = in_task(Some(HOUR), async {
        let lock = corio::sync::Lock::new(());
        let _held = lock.acquire().await.unwrap();
        let (got, saw_cancel) = (AtomicBool::new(false), AtomicBool::new(false));
        let r = corio::wait_for(
            async {
                match lock.acquire().await {
                    Ok(_g) => got.store(true, Ordering::SeqCst),
                    Err(_cancelled) => saw_cancel.store(true, Ordering::SeqCst),
                }
            },
            ms(10),
        )
        .await;
        assert!(!got.load(Ordering::SeqCst));
        assert!(saw_cancel.load(Ordering::SeqCst), "the body saw no cancel");
        assert_eq!(lock.waiters(), 0, "the cancelled waiter left the queue");
        r
    });
    assert!(r.is_err());
}

/// The task running a group is cancelled cooperatively (asyncio's
/// test_cancellation / test_taskgroup_07 / test_taskgroup_15): the body runs
/// its cleanup, the children are cancelled and run theirs (a child failing
/// meanwhile does not turn the cancel into a group error), and the task
/// resolves cancelled after all of them, without waiting for the hour of grace.
#[test]
fn cancelling_the_task_running_a_group_cancels_body_and_children() {
    for child_fails in [false, true] {
        let cleaned = Arc::new(AtomicUsize::new(0));
        let c = cleaned.clone();
        common::run(60, async move {
            let entered = Arc::new(AtomicBool::new(false));
            let e = entered.clone();
            let task = TaskBuilder::new().cancel_grace(HOUR).spawn(async move {
                let tg = corio::TaskGroup::new();
                let _ = tg
                    .run(async {
                        for _ in 0..5 {
                            tg.create_task(sleeper_with_cleanup(c.clone()));
                        }
                        if child_fails {
                            tg.create_task(async {
                                corio::sleep(ms(20)).await;
                                panic!("planted: child fails during the cleanup");
                            });
                        }
                        e.store(true, Ordering::SeqCst);
                        corio::sleep(HOUR).await; // the task's cancel
                        corio::cleanup(corio::sleep(ms(50))).await;
                        c.fetch_add(10, Ordering::SeqCst);
                    })
                    .await;
            });
            while !entered.load(Ordering::SeqCst) {
                corio::sleep(ms(1)).await;
            }
            assert!(task.cancel());
            let out = corio::wait_for(task, BOUND)
                .await
                .expect("resolved without waiting for the grace");
            assert!(
                out.unwrap_err().is_cancelled(),
                "child_fails: {child_fails}"
            );
        });
        assert_eq!(
            cleaned.load(Ordering::SeqCst),
            15,
            "body and five children cleaned up (child_fails: {child_fails})"
        );
    }
}
