//! TaskGroup: success, the first failure cancels the siblings, every failure is
//! reported, an abandoned group cancels its children.

mod common;

use std::time::{Duration, Instant};

use common::DropCounter;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn all_children_succeed() {
    common::run(20, async {
        let tg = corio::TaskGroup::new();
        let a = tg.create_task(async {
            corio::sleep(ms(20)).await;
            "a"
        });
        let b = tg.create_task(async { 2 });
        tg.join().await.unwrap();
        assert_eq!(a.await.unwrap(), "a");
        assert_eq!(b.await.unwrap(), 2);
    });
}

#[test]
fn two_children_fail_both_reported_and_the_rest_cancelled() {
    let drops = DropCounter::default();
    let token = drops.token();
    let d = drops.clone();
    common::timeout(30, move || {
        // Two workers, so both failing children are mid-poll at once: the first
        // failure's cancellation cannot stop the second from failing too.
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        rt.block_on(async move {
            let start = Instant::now();
            let tg = corio::TaskGroup::new();
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            for name in ["first", "second"] {
                let barrier = barrier.clone();
                tg.create_task(async move {
                    barrier.wait(); // both children are running now
                    panic!("{name} failed");
                });
            }
            let sleeper = tg.create_task(async move {
                let _token = token;
                corio::sleep(Duration::from_secs(3600)).await;
            });
            let err = tg.join().await.unwrap_err();
            let mut msgs: Vec<String> = err.failures().iter().map(|f| f.message()).collect();
            msgs.sort();
            assert_eq!(
                msgs,
                vec!["first failed", "second failed"],
                "none swallowed"
            );
            assert!(err.to_string().contains("2 task(s)"));
            // Each failure names its child: distinct ids, spawned from this file.
            let ids: std::collections::HashSet<_> =
                err.failures().iter().map(|f| f.task().id()).collect();
            assert_eq!(ids.len(), 2);
            assert!(err.failures().iter().all(|f| f
                .task()
                .location()
                .is_some_and(|l| l.file().ends_with("task_group.rs"))));
            // The sibling was cancelled: its future dropped, its handle says so.
            assert_eq!(d.get(), 1);
            assert!(sleeper.await.unwrap_err().is_cancelled());
            assert!(start.elapsed() < Duration::from_secs(10));
        });
    });
}

/// Sets its flag when dropped, after a slow (200 ms) destructor: a test that
/// finds the flag unset saw the group report a child's end before the child's
/// future was gone.
struct SlowDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl SlowDrop {
    fn new() -> (Self, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        (SlowDrop(flag.clone()), flag)
    }
}

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(ms(200));
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A hand-written future that keeps `_guard` until it is dropped (an async
/// block drops its locals when it completes; a struct keeps its fields), and
/// ends as `end` says on its first poll.
struct EndsHolding<G, T> {
    _guard: G,
    end: fn() -> T,
}

impl<G, T> std::future::Future for EndsHolding<G, T> {
    type Output = T;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        std::task::Poll::Ready((self.end)())
    }
}

/// Builds a runtime with two workers, so `join` can return on one worker
/// while the child's future is still being dropped on the other.
fn on_two_workers<F: std::future::Future<Output = ()> + Send + 'static>(fut: F) {
    common::timeout(30, move || {
        let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
        rt.block_on(fut);
    });
}

/// `join` returns only once a cancelled child's future is gone: its destructor
/// (slow here) has finished by then, as asyncio's `async with` has seen every
/// child end.
#[test]
fn join_returns_after_a_cancelled_childs_destructor() {
    common::run(30, async {
        let tg = corio::TaskGroup::new();
        let (guard, dropped) = SlowDrop::new();
        tg.create_task(async move {
            let _guard = guard;
            corio::sleep(Duration::from_secs(3600)).await;
        });
        tg.create_task(async {
            corio::sleep(ms(10)).await;
            panic!("fails, so the sleeper is cancelled");
        });
        assert!(tg.join().await.is_err());
        assert!(
            dropped.load(std::sync::atomic::Ordering::SeqCst),
            "join returned before the cancelled child's future was dropped"
        );
    });
}

/// The same for a child that completes: its future (and what it owns) is
/// dropped before its handle resolves and before `join` returns.
#[test]
fn join_returns_after_a_finished_childs_destructor() {
    on_two_workers(async {
        let tg = corio::TaskGroup::new();
        let (guard, dropped) = SlowDrop::new();
        let child = tg.create_task(EndsHolding {
            _guard: guard,
            end: || 7,
        });
        tg.join().await.unwrap();
        assert!(
            dropped.load(std::sync::atomic::Ordering::SeqCst),
            "join returned before the finished child's future was dropped"
        );
        assert_eq!(child.await.unwrap(), 7);

        let tg = corio::TaskGroup::new();
        let (guard, dropped) = SlowDrop::new();
        let child = tg.create_task(EndsHolding {
            _guard: guard,
            end: || 7,
        });
        assert_eq!(child.await.unwrap(), 7);
        assert!(
            dropped.load(std::sync::atomic::Ordering::SeqCst),
            "the handle resolved before the child's future was dropped"
        );
        tg.join().await.unwrap();
    });
}

/// The same for a child that panics: the group hears of the failure only
/// after the panicked future is dropped.
#[test]
fn join_returns_after_a_panicked_childs_destructor() {
    on_two_workers(async {
        let tg = corio::TaskGroup::new();
        let (guard, dropped) = SlowDrop::new();
        let child = tg.create_task(EndsHolding {
            _guard: guard,
            end: || -> () { panic!("child fails holding a guard") },
        });
        let err = tg.join().await.unwrap_err();
        assert!(
            dropped.load(std::sync::atomic::Ordering::SeqCst),
            "join returned before the panicked child's future was dropped"
        );
        assert_eq!(err.failures().len(), 1);
        assert!(err.failures()[0].message().contains("holding a guard"));
        assert!(child.await.unwrap_err().is_panic());
    });
}

/// The same for a try-task that returns `Err`.
#[test]
fn join_returns_after_a_failed_try_childs_destructor() {
    on_two_workers(async {
        let tg = corio::TaskGroup::new();
        let (guard, dropped) = SlowDrop::new();
        tg.create_try_task(EndsHolding {
            _guard: guard,
            end: || "x".parse::<u32>(),
        });
        let err = tg.join().await.unwrap_err();
        assert!(
            dropped.load(std::sync::atomic::Ordering::SeqCst),
            "join returned before the failed child's future was dropped"
        );
        assert!(err.failures()[0].message().contains("invalid digit"));
    });
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("destructor of the child's future panicked");
    }
}

/// A finished child whose future panics as it is dropped failed: the group
/// reports it (not swallowed), and `join` still returns.
#[test]
fn a_panic_in_a_finished_childs_destructor_is_a_failure() {
    on_two_workers(async {
        let tg = corio::TaskGroup::new();
        let child = tg.create_task(EndsHolding {
            _guard: PanicOnDrop,
            end: || 1,
        });
        let err = tg.join().await.unwrap_err();
        assert_eq!(err.failures().len(), 1);
        assert!(err.failures()[0].message().contains("destructor"));
        assert!(child.await.unwrap_err().is_panic());
    });
}

/// A cancelled child whose future panics as it is dropped still ends: `join`
/// returns (the group heard of it although the destructor unwound).
#[test]
fn join_returns_when_a_cancelled_childs_destructor_panics() {
    on_two_workers(async {
        let tg = corio::TaskGroup::new();
        let guard = PanicOnDrop;
        let sleeper = tg.create_task(async move {
            let _guard = guard;
            corio::sleep(Duration::from_secs(3600)).await;
        });
        corio::sleep(ms(10)).await;
        assert!(sleeper.cancel());
        tg.join().await.unwrap();
        assert!(sleeper.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_failing_child_handle_sees_the_panic_message() {
    common::run(20, async {
        let tg = corio::TaskGroup::new();
        let bad = tg.create_task(async {
            corio::sleep(ms(5)).await;
            panic!("kaput");
        });
        let err = tg.join().await.unwrap_err();
        assert_eq!(err.failures().len(), 1);
        let e = bad.await.unwrap_err();
        assert!(e.is_panic());
        assert!(e.to_string().contains("kaput"), "{e}");
        // Payload available for resume_unwind.
        let f = err.into_failures().pop().unwrap();
        assert!(f.is_panic());
        assert!(f.error().is_none());
        let payload = f.try_into_panic().unwrap();
        assert_eq!(common::panic_msg(&*payload), "kaput");
    });
}

#[test]
fn tasks_added_after_a_failure_are_cancelled() {
    common::run(20, async {
        let tg = corio::TaskGroup::new();
        tg.create_task(async { panic!("early") });
        corio::sleep(ms(50)).await;
        let late = tg.create_task(async {
            corio::sleep(Duration::from_secs(3600)).await;
        });
        assert!(tg.join().await.is_err());
        assert!(late.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn dropping_a_group_cancels_its_children() {
    let drops = DropCounter::default();
    let d = drops.clone();
    common::run(20, async move {
        {
            let tg = corio::TaskGroup::new();
            for _ in 0..3 {
                let token = d.token();
                tg.create_task(async move {
                    let _token = token;
                    corio::sleep(Duration::from_secs(3600)).await;
                });
            }
            corio::sleep(ms(5)).await;
        }
        let start = Instant::now();
        while d.get() < 3 && start.elapsed() < Duration::from_secs(10) {
            corio::sleep(ms(2)).await;
        }
        assert_eq!(d.get(), 3);
    });
}

#[test]
fn explicit_cancel() {
    common::run(20, async {
        let tg = corio::TaskGroup::new();
        let t = tg.create_task(corio::sleep(Duration::from_secs(3600)));
        tg.cancel();
        tg.join().await.unwrap(); // cancellation is not a failure
        assert!(t.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn err_outputs_of_try_tasks_are_failures_too() {
    common::run(20, async {
        let tg = corio::TaskGroup::new();
        // `bad` fails only after `ok` has finished, so `ok` is not cancelled.
        let gate = corio::Deferred::<()>::new();
        let opened = gate.clone();
        let ok = tg.create_try_task(async move {
            let _ = opened.set_result(());
            Ok::<_, std::io::Error>(1)
        });
        let bad = tg.create_try_task(async move {
            let _ = gate.await;
            Err::<u8, _>(std::io::Error::other("disk full"))
        });
        let sleeper = tg.create_task(corio::sleep(Duration::from_secs(3600)));
        let err = tg.join().await.unwrap_err();
        assert_eq!(err.failures().len(), 1);
        let f = &err.failures()[0];
        assert!(!f.is_panic());
        assert_eq!(f.message(), "disk full");
        assert!(err.to_string().contains("disk full"));
        // The child's own handle sees the same error; the sibling was cancelled.
        assert_eq!(bad.await.unwrap().unwrap_err().to_string(), "disk full");
        assert_eq!(ok.await.unwrap().unwrap(), 1);
        assert!(sleeper.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn dropping_join_midway_cancels_the_children() {
    let drops = DropCounter::default();
    let d = drops.clone();
    common::run(20, async move {
        let tg = corio::TaskGroup::new();
        let token = d.token();
        let child = tg.create_task(async move {
            let _token = token;
            corio::sleep(Duration::from_secs(3600)).await;
        });
        assert!(corio::wait_for(tg.join(), ms(20)).await.is_err());
        assert!(child.await.unwrap_err().is_cancelled());
        assert_eq!(d.get(), 1);
    });
}
