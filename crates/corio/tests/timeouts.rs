//! Timeout scopes (`corio::timeout`, `timeout_at`, `Timeout`) and `wait_for`:
//! ports of the CPython test_timeouts.py / test_waitfor.py cases that apply.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// test_timeout_basic / test_timeout_at_basic: the body is cancelled, the scope
/// says it expired, and `when()` is the deadline given.
#[test]
fn timeout_basic_and_timeout_at_basic() {
    common::run(30, async {
        let cm = corio::timeout(ms(10));
        let start = Instant::now();
        let r = cm.run(corio::sleep(Duration::from_secs(3600))).await;
        assert!(r.is_err());
        assert!(cm.expired());
        assert!(start.elapsed() < Duration::from_secs(10));

        let when = Instant::now() + ms(10);
        let cm = corio::timeout_at(when);
        assert_eq!(cm.when(), Some(when));
        assert!(cm
            .run(corio::sleep(Duration::from_secs(3600)))
            .await
            .is_err());
        assert!(cm.expired());
        assert!(Instant::now() >= when, "never early");
    });
}

/// test_timeout_not_called / test_timeout_disabled: a finished body is not an
/// expiry; `timeout(None)` never expires.
#[test]
fn timeout_not_called_and_disabled() {
    common::run(30, async {
        let cm = corio::timeout(Duration::from_secs(10));
        assert_eq!(cm.run(async { 1 }).await, Ok(1));
        assert!(!cm.expired());

        let cm = corio::Timeout::new(None);
        assert_eq!(cm.when(), None);
        let r = cm
            .run(async {
                corio::sleep(ms(20)).await;
                2
            })
            .await;
        assert_eq!(r, Ok(2));
        assert!(!cm.expired());
    });
}

/// test_timeout_zero / test_timeout_in_the_past_sleep_zero: an already-due
/// scope runs its body up to its first wait and expires there; a body that
/// does not wait finishes (asyncio's `_on_timeout` is only scheduled).
#[test]
fn timeout_zero_and_in_the_past() {
    common::run(30, async {
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let cm = corio::timeout(Duration::ZERO);
        let r = cm
            .run(async move {
                s.store(true, Ordering::SeqCst);
                corio::sleep(Duration::from_secs(3600)).await;
            })
            .await;
        assert!(r.is_err());
        assert!(cm.expired());
        assert!(started.load(Ordering::SeqCst), "ran up to its first wait");

        let cm = corio::timeout_at(Instant::now() - ms(1000));
        assert!(cm.run(corio::yield_now()).await.is_err());
        assert!(cm.expired());

        let cm = corio::timeout(Duration::ZERO);
        assert_eq!(cm.run(async { 7 }).await, Ok(7));
        assert!(!cm.expired(), "a body that never waited did not time out");
    });
}

/// test_reschedule: `reschedule` from inside the body, to later, to `None`,
/// and to the past.
#[test]
fn reschedule_later_none_and_past() {
    common::run(30, async {
        // Later: the body outlives the first deadline.
        let cm = corio::timeout(ms(10));
        let r = cm
            .run(async {
                cm.reschedule(Instant::now() + Duration::from_secs(20));
                corio::sleep(ms(40)).await;
                "slept"
            })
            .await;
        assert_eq!(r, Ok("slept"));
        assert!(!cm.expired());

        // None: no deadline at all.
        let cm = corio::timeout(ms(10));
        let r = cm
            .run(async {
                cm.reschedule(None);
                assert_eq!(cm.when(), None);
                corio::sleep(ms(40)).await;
            })
            .await;
        assert!(r.is_ok());

        // From no deadline to an earlier one: the waiting body is woken and cancelled.
        let cm = corio::Timeout::new(None);
        let start = Instant::now();
        let r = cm
            .run(async {
                let cm2 = cm.clone();
                let _bg = corio::create_task(async move {
                    corio::sleep(ms(10)).await;
                    cm2.reschedule(Instant::now());
                });
                corio::sleep(Duration::from_secs(3600)).await;
            })
            .await;
        assert!(r.is_err());
        assert!(cm.expired());
        assert!(start.elapsed() < Duration::from_secs(10));
    });
}

/// test_nested_timeouts: the outer, earlier deadline fires; the inner scope is
/// not expired.
#[test]
fn nested_timeouts_outer_fires() {
    common::run(30, async {
        let outer = corio::timeout(ms(10));
        let inner = corio::timeout(Duration::from_secs(3600));
        let r = outer
            .run(inner.run(corio::sleep(Duration::from_secs(3600))))
            .await;
        assert!(r.is_err(), "the outer scope reports: {r:?}");
        assert!(outer.expired());
        assert!(!inner.expired());
    });
}

/// test_nested_timeouts_concurrent / same deadline: only the outermost
/// expired scope reports, never `Ok(Err(TimeoutError))`.
#[test]
fn nested_timeouts_same_deadline_report_from_the_outermost() {
    common::run(30, async {
        for _ in 0..20 {
            let when = Instant::now() + ms(5);
            let outer = corio::timeout_at(when);
            let middle = corio::timeout_at(when);
            let inner = corio::timeout_at(when);
            let r = outer
                .run(middle.run(inner.run(corio::sleep(Duration::from_secs(3600)))))
                .await;
            assert!(matches!(r, Err(corio::TimeoutError { .. })), "{r:?}");
            assert!(outer.expired());
            assert!(!middle.expired());
            assert!(!inner.expired());
        }
    });
}

/// An inner deadline that passes first is the inner scope's own report: the
/// outer body sees `Err` and goes on.
#[test]
fn nested_timeouts_inner_fires_first() {
    common::run(30, async {
        let outer = corio::timeout(Duration::from_secs(3600));
        let inner = corio::timeout(ms(5));
        let r = outer
            .run(async {
                let r = inner.run(corio::sleep(Duration::from_secs(3600))).await;
                assert!(r.is_err());
                "outer body went on"
            })
            .await;
        assert_eq!(r, Ok("outer body went on"));
        assert!(inner.expired());
        assert!(!outer.expired());
    });
}

/// test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started.
#[test]
fn wait_for_zero_does_not_start_the_future() {
    common::run(30, async {
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let r = corio::wait_for(
            async move {
                s.store(true, Ordering::SeqCst);
                1
            },
            Duration::ZERO,
        )
        .await;
        assert!(r.is_err());
        assert!(!started.load(Ordering::SeqCst));
    });
}

/// test_wait_for / test_wait_for_blocking: the result in time, TimeoutError
/// late, and the inner future is dropped before wait_for returns.
#[test]
fn wait_for_result_timeout_and_drop() {
    common::run(30, async {
        assert_eq!(corio::wait_for(async { 5 }, ms(500)).await, Ok(5));
        let dropped = common::DropCounter::default();
        let token = dropped.token();
        let r = corio::wait_for(
            async move {
                let _t = token;
                corio::sleep(Duration::from_secs(3600)).await;
            },
            ms(10),
        )
        .await;
        let err = r.unwrap_err();
        assert_eq!(dropped.get(), 1);
        assert_eq!(err.to_string(), "deadline has elapsed");
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    });
}

/// test_wait_for_race_condition-like: a future ready in the same poll as the
/// deadline wins once started.
#[test]
fn wait_for_ready_body_wins_after_start() {
    common::run(30, async {
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let r = corio::wait_for(
            std::future::poll_fn(move |cx| {
                if p.fetch_add(1, Ordering::SeqCst) == 0 {
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                } else {
                    // The deadline passes during the poll that finishes.
                    std::thread::sleep(ms(20));
                    std::task::Poll::Ready(9)
                }
            }),
            ms(5),
        )
        .await;
        assert_eq!(r, Ok(9));
    });
}

/// test_timeout_exception_cause-like: one error type across wait_for and
/// scopes.
#[test]
fn one_error_type() {
    common::run(30, async {
        let a: Result<(), corio::TimeoutError> =
            corio::wait_for(std::future::pending(), ms(1)).await;
        let b: Result<(), corio::TimeoutError> =
            corio::timeout(ms(1)).run(std::future::pending()).await;
        assert_eq!(a, b);
    });
}
