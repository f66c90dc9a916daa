//! TaskGroup as a scope: a failing child cancels the body (also inside a
//! nested group), per-child handles, named children, children adding tasks,
//! `TaskGroup::cancel()`. Ports of CPython test_taskgroups.py cases.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::DropCounter;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const HOUR: Duration = Duration::from_secs(3600);

/// test_taskgroup_03-like: a child fails while the body sleeps; the body is
/// cancelled at once (its destructors ran), not after its sleep.
#[test]
fn failing_child_cancels_the_body() {
    common::run(60, async {
        let body_dropped = DropCounter::default();
        let token = body_dropped.token();
        let tg = corio::TaskGroup::new();
        let start = Instant::now();
        let r = tg
            .run(async {
                let _t = token;
                tg.create_task(async {
                    corio::sleep(ms(10)).await;
                    panic!("child failed");
                });
                corio::sleep(HOUR).await;
                unreachable!("the body was cancelled");
            })
            .await;
        let err = r.unwrap_err();
        assert_eq!(err.failures().len(), 1);
        assert_eq!(err.failures()[0].message(), "child failed");
        assert_eq!(body_dropped.get(), 1);
        // Bounded far below the body's hour-long sleep (a loaded box stays far under this).
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
    });
}

/// test_taskgroup_06/07-like: the outer group's failure cancels a body that
/// waits in a nested group (and that group's children).
#[test]
fn failing_child_cancels_a_body_waiting_in_a_nested_group() {
    common::run(60, async {
        let inner_children = DropCounter::default();
        let token = inner_children.token();
        let outer = corio::TaskGroup::new();
        let start = Instant::now();
        let r = outer
            .run(async {
                outer.create_task(async {
                    corio::sleep(ms(10)).await;
                    panic!("outer child failed");
                });
                let inner = corio::TaskGroup::new();
                let _ = inner
                    .run(async {
                        inner.create_task(async move {
                            let _t = token;
                            corio::sleep(HOUR).await;
                        });
                        corio::sleep(HOUR).await;
                    })
                    .await;
                unreachable!("the outer body was cancelled");
            })
            .await;
        assert_eq!(r.unwrap_err().failures()[0].message(), "outer child failed");
        assert_eq!(inner_children.get(), 1, "the inner child was cancelled");
        assert!(start.elapsed() < Duration::from_secs(30));
    });
}

/// A child failing after the body finished still fails the group (the body's
/// output is dropped); without failures `run` gives the body's output.
#[test]
fn body_finishing_then_child_failing_reports_the_failure() {
    common::run(60, async {
        let tg = corio::TaskGroup::new();
        let r = tg
            .run(async {
                tg.create_task(async {
                    corio::sleep(ms(20)).await;
                    panic!("late failure");
                });
                "body done"
            })
            .await;
        assert_eq!(r.unwrap_err().failures()[0].message(), "late failure");

        let tg = corio::TaskGroup::new();
        let r = tg
            .run(async {
                tg.create_task(async { corio::sleep(ms(5)).await });
                "ok"
            })
            .await;
        assert_eq!(r.unwrap(), Some("ok"));
    });
}

/// test_taskgroup_cancel (3.15 `tg.cancel()`): ends the group early without
/// an error; body and children are cancelled.
#[test]
fn cancel_ends_the_group_without_error() {
    common::run(60, async {
        let tg = corio::TaskGroup::new();
        let start = Instant::now();
        let mut child = None;
        let r = tg
            .run(async {
                child = Some(tg.create_task(corio::sleep(HOUR)));
                let h = tg.handle();
                tg.create_task(async move {
                    corio::sleep(ms(10)).await;
                    h.cancel();
                    corio::sleep(HOUR).await;
                });
                corio::sleep(HOUR).await;
            })
            .await;
        assert!(matches!(r, Ok(None)), "{r:?}");
        let child = child.unwrap();
        assert!(child.done() && child.cancelled());
        assert!(child.await.unwrap_err().is_cancelled());
        assert!(start.elapsed() < Duration::from_secs(30));
    });
}

/// test_taskgroup_21-like: cancelling one child is not a failure of the
/// group; done/cancelled/name/id on the child handle.
#[test]
fn per_child_cancel_and_names() {
    common::run(60, async {
        let tg = corio::TaskGroup::new();
        let slow = tg.create_task_named("slow", corio::sleep(HOUR));
        let quick = tg.create_task_named("quick", async { 7 });
        assert_eq!(slow.name(), Some("slow"));
        assert_eq!(quick.name(), Some("quick"));
        assert_ne!(slow.id(), quick.id());
        assert!(!slow.done());
        assert!(slow.cancel());
        // A second request before the child is gone may still say true (as
        // asyncio's cancel() does while the task is not done); it changes nothing.
        let _ = slow.cancel();
        tg.join().await.unwrap();
        assert!(slow.done() && slow.cancelled());
        assert!(quick.done() && !quick.cancelled());
        assert!(!quick.cancel(), "a finished child keeps its result");
        assert_eq!(quick.await.unwrap(), 7);
        assert!(slow.await.unwrap_err().is_cancelled());
    });
}

/// Children see their own name through current_task (as `asyncio.current_task().get_name()`).
#[test]
fn named_child_sees_its_name() {
    common::run(60, async {
        let tg = corio::TaskGroup::new();
        let t = tg.create_task_named("worker-1", async {
            corio::current_task().and_then(|t| t.name().map(str::to_owned))
        });
        tg.join().await.unwrap();
        assert_eq!(t.await.unwrap().as_deref(), Some("worker-1"));
    });
}

/// test_taskgroup_children_can_add_tasks: children add siblings (recursively)
/// while the owner waits in join(); join waits for all of them.
#[test]
fn children_add_tasks_while_the_owner_waits() {
    common::run(60, async {
        let tg = corio::TaskGroup::new();
        let count = Arc::new(AtomicUsize::new(0));
        fn fan(h: corio::TaskGroupHandle, depth: u32, count: Arc<AtomicUsize>) {
            let h2 = h.clone();
            h.create_task(async move {
                corio::sleep(ms(2)).await;
                count.fetch_add(1, Ordering::SeqCst);
                if depth > 0 {
                    fan(h2.clone(), depth - 1, count.clone());
                    fan(h2, depth - 1, count);
                }
            });
        }
        fan(tg.handle(), 4, count.clone());
        tg.join().await.unwrap();
        // 1 + 2 + 4 + 8 + 16 tasks, all finished before join returned.
        assert_eq!(count.load(Ordering::SeqCst), 31);
    });
}

/// Failures in grandchildren added by a child fail the group and cancel the
/// body; both are reported together.
#[test]
fn failures_from_added_tasks_are_reported_together() {
    common::timeout(60, || {
        // Two workers, so both grandchildren are mid-poll together and both fail.
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let tg = corio::TaskGroup::new();
            let h = tg.handle();
            let r = tg
                .run(async {
                    tg.create_task(async move {
                        let barrier = Arc::new(std::sync::Barrier::new(2));
                        for name in ["a", "b"] {
                            let barrier = barrier.clone();
                            h.create_task(async move {
                                barrier.wait();
                                panic!("{name} failed");
                            });
                        }
                    });
                    corio::sleep(HOUR).await;
                })
                .await;
            let err = r.unwrap_err();
            let mut msgs: Vec<String> = err.failures().iter().map(|f| f.message()).collect();
            msgs.sort();
            assert_eq!(msgs, ["a failed", "b failed"]);
        });
    });
}

/// A task added after the group finished is cancelled at once (Python raises
/// RuntimeError "TaskGroup is finished").
#[test]
fn task_added_after_the_group_finished_is_cancelled() {
    common::run(60, async {
        let tg = corio::TaskGroup::new();
        let h = tg.handle();
        tg.join().await.unwrap();
        let late = h.create_task(corio::sleep(HOUR));
        assert!(late.await.unwrap_err().is_cancelled());
    });
}

/// A timeout around `run` drops the body and cancels the children.
#[test]
fn timeout_around_run_cancels_everything() {
    common::run(60, async {
        let drops = DropCounter::default();
        let token = drops.token();
        let tg = corio::TaskGroup::new();
        let r = corio::wait_for(
            tg.run(async {
                tg.create_task(async move {
                    let _t = token;
                    corio::sleep(HOUR).await;
                });
                corio::sleep(HOUR).await;
            }),
            ms(10),
        )
        .await;
        assert!(r.is_err());
        drop(tg);
        // The child was cancelled when the group was dropped unjoined.
        let deadline = Instant::now() + Duration::from_secs(20);
        while drops.get() == 0 && Instant::now() < deadline {
            corio::sleep(ms(2)).await;
        }
        assert_eq!(drops.get(), 1);
    });
}
