//! Timeout scopes (`corio::timeout`, `timeout_at`, `Timeout`) and `wait_for`:
//! ports of the CPython test_timeouts.py / test_waitfor.py cases that apply.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `body` in a task with an hour of cancellation grace (so scopes
/// cancel their bodies cooperatively) and returns its output; the bound
/// only catches a wait for that hour.
async fn in_cooperative_task<T: Send + 'static>(
    body: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let task = corio::TaskBuilder::new()
        .cancel_grace(Duration::from_secs(3600))
        .spawn(body);
    corio::wait_for(task, Duration::from_secs(20))
        .await
        .expect("no wait for the grace")
        .unwrap()
}

/// test_timeout_basic / test_timeout_at_basic: the body is cancelled, the scope
/// says it expired, and `when()` is the deadline given.
#[test]
fn timeout_basic_and_timeout_at_basic() {
    // Real runtime only (not under tests/sim_facade.rs): its deadlines come from Instant::now().
    common::run_real(30, async {
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
    // Real runtime only (not under tests/sim_facade.rs): its deadlines come from Instant::now().
    common::run_real(30, async {
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

        // test_timeout_zero / test_timeout_zero_sleep_zero: `when()` is the
        // moment the scope was made; a body that only yields (asyncio's
        // `sleep(0)`; corio's `sleep(ZERO)` completes without yielding) expires.
        let t0 = Instant::now();
        let cm = corio::timeout(Duration::ZERO);
        let t1 = Instant::now();
        assert!(cm.run(corio::yield_now()).await.is_err());
        assert!(cm.expired());
        let when = cm.when().expect("a deadline");
        assert!(t0 <= when && when <= t1, "{t0:?} {when:?} {t1:?}");
    });
}

/// test_reschedule: `reschedule` from inside the body, to later, to `None`,
/// and to the past.
#[test]
fn reschedule_later_none_and_past() {
    // Real runtime only (not under tests/sim_facade.rs): its deadlines come from Instant::now().
    common::run_real(30, async {
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
    // Real runtime only (not under tests/sim_facade.rs): its deadline comes from Instant::now().
    common::run_real(30, async {
        for _ in 0..20 {
            let when = Instant::now() + ms(5);
            let outer = corio::timeout_at(when);
            let middle = corio::timeout_at(when);
            let inner = corio::timeout_at(when);
            let r = outer
                .run(middle.run(inner.run(corio::sleep(Duration::from_secs(3600)))))
                .await;
            assert!(matches!(r, Err(corio::TimeoutError { .. })), "{r:?}");
            // test_nested_timeouts: every scope whose deadline fired reads as
            // expired; only the outermost reports.
            assert!(outer.expired());
            assert!(middle.expired());
            assert!(inner.expired());
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

/// expired() follows asyncio 3.11: false while the body runs before the
/// deadline and when the body finished first (even if the deadline passes
/// afterwards); true from the moment the deadline fired and cancelled the
/// body, so the body's destructors see it; not reset by a later reschedule.
#[test]
fn expired_is_true_from_the_firing_on() {
    // Real runtime only (not under tests/sim_facade.rs): its deadlines come from Instant::now().
    common::run_real(30, async {
        // Before the deadline, inside the body.
        let cm = corio::timeout(Duration::from_secs(3600));
        let r = cm.run(async { cm.expired() }).await;
        assert_eq!(r, Ok(false));

        // A deadline that passes after the body finished.
        let cm = corio::timeout(ms(5));
        assert_eq!(cm.run(async { 1 }).await, Ok(1));
        corio::sleep(ms(20)).await;
        assert!(!cm.expired());

        // The body's destructor (the body is dropped) sees the expiry.
        struct SeesExpiry(corio::Timeout, Arc<AtomicBool>);
        impl Drop for SeesExpiry {
            fn drop(&mut self) {
                self.1.store(self.0.expired(), Ordering::SeqCst);
            }
        }
        let seen = Arc::new(AtomicBool::new(false));
        let cm = corio::timeout(ms(5));
        let guard = SeesExpiry(cm.clone(), seen.clone());
        let r = cm
            .run(async move {
                let _guard = guard;
                corio::sleep(Duration::from_secs(3600)).await;
            })
            .await;
        assert!(r.is_err());
        assert!(seen.load(Ordering::SeqCst), "the destructor saw no expiry");

        // Rescheduled after the expiry: when() moves, expired() stays.
        let later = Instant::now() + Duration::from_secs(3600);
        cm.reschedule(later);
        assert_eq!(cm.when(), Some(later));
        assert!(cm.expired());
        cm.reschedule(None);
        assert_eq!(cm.when(), None);
        assert!(cm.expired());

        // Rescheduled before the scope runs: the run uses the new deadline.
        let cm = corio::timeout(ms(1));
        cm.reschedule(None);
        let r = cm
            .run(async {
                corio::sleep(ms(20)).await;
                2
            })
            .await;
        assert_eq!(r, Ok(2));
        assert!(!cm.expired());
        let cm = corio::timeout(Duration::from_secs(3600));
        cm.reschedule(Instant::now());
        assert!(cm
            .run(corio::sleep(Duration::from_secs(3600)))
            .await
            .is_err());
        assert!(cm.expired());
    });
}

/// With cooperative cancellation, the body's cleanup sees the scope expired
/// (asyncio's EXPIRING state, seen from an `except CancelledError:`).
#[test]
fn expired_is_true_in_the_cooperative_cleanup() {
    common::run(30, async {
        in_cooperative_task(async {
            let cm = corio::timeout(ms(5));
            let seen = cm
                .run(async {
                    assert!(!cm.expired());
                    corio::sleep(Duration::from_secs(3600)).await; // cancelled at the deadline
                    corio::cleanup(async { cm.expired() }).await
                })
                .await;
            assert!(seen.is_err(), "the scope reports its expiry");
            assert!(cm.expired());
        })
        .await;
    });
}

/// test_foreign_exception_passed: an error of the body is the body's, not an
/// expiry.
#[test]
fn body_error_passes_through_and_is_not_an_expiry() {
    common::run(30, async {
        let cm = corio::timeout(ms(10));
        let r = cm.run(async { Err::<(), &str>("key error") }).await;
        assert_eq!(r, Ok(Err("key error")));
        assert!(!cm.expired());
        // A panicking body: the panic is the task's, the scope did not expire.
        let cm2 = corio::timeout(Duration::from_secs(3600));
        let c = cm2.clone();
        let task =
            corio::create_task(
                async move { c.run(async { panic!("planted: body panics") }).await },
            );
        assert!(task.await.unwrap_err().is_panic());
        assert!(!cm2.expired());
    });
}

/// test_foreign_cancel_doesnt_timeout_if_not_expired and test_reschedule: a
/// task cancelled while inside a scope resolves cancelled and the scope did
/// not expire; `when()`/`reschedule` work from outside the task.
#[test]
fn task_cancelled_inside_a_scope_is_not_an_expiry() {
    // Real runtime only (not under tests/sim_facade.rs): its deadlines come from Instant::now().
    common::run_real(30, async {
        for grace in [None, Some(Duration::from_secs(3600))] {
            let (tx, rx) = futures::channel::oneshot::channel();
            let deadline1 = Instant::now() + Duration::from_secs(10);
            let body = async move {
                let cm = corio::timeout_at(deadline1);
                let _ = tx.send(cm.clone());
                let _ = cm.run(corio::sleep(Duration::from_secs(50))).await;
            };
            let task = match grace {
                Some(g) => corio::TaskBuilder::new().cancel_grace(g).spawn(body),
                None => corio::create_task(body),
            };
            let cm = rx.await.expect("the task entered its scope");
            assert_eq!(cm.when(), Some(deadline1));
            let deadline2 = deadline1 + Duration::from_secs(20);
            cm.reschedule(deadline2);
            assert_eq!(cm.when(), Some(deadline2));
            cm.reschedule(None);
            assert_eq!(cm.when(), None);
            assert!(task.cancel());
            let out = corio::wait_for(task, Duration::from_secs(20))
                .await
                .expect("no hang");
            assert!(out.unwrap_err().is_cancelled(), "{grace:?}");
            assert!(!cm.expired(), "{grace:?}");
        }
    });
}

/// test_outer_task_is_not_cancelled: a scope's expiry cancels its body, not
/// the task running it (with and without cooperative cancellation).
#[test]
fn expiry_does_not_cancel_the_task() {
    common::run(30, async {
        for grace in [None, Some(Duration::from_secs(3600))] {
            let body = async {
                let r = corio::timeout(ms(1))
                    .run(corio::sleep(Duration::from_secs(10)))
                    .await;
                assert!(r.is_err());
                corio::sleep(ms(1)).await; // waits normally: the task is not cancelled
                "finished"
            };
            let task = match grace {
                Some(g) => corio::TaskBuilder::new().cancel_grace(g).spawn(body),
                None => corio::create_task(body),
            };
            assert_eq!(task.await.unwrap(), "finished", "{grace:?}");
        }
    });
}

/// test_nested_timeouts_concurrent / test_nested_timeouts_loop_busy: a poll
/// that blocks past the outer deadline (the inner one passed or not) ends
/// with the outer scope's error, without the body's long sleep.
#[test]
fn nested_timeouts_after_a_busy_poll_report_from_the_outer() {
    common::run(60, async {
        for (outer_d, inner_d, busy) in [(ms(2), ms(100), ms(10)), (ms(100), ms(10), ms(100))] {
            let start = Instant::now();
            let outer = corio::timeout(outer_d);
            let inner = corio::timeout(inner_d);
            let r = outer
                .run(async {
                    let r = inner
                        .run(async {
                            std::thread::sleep(busy); // the worker is busy
                            corio::sleep(Duration::from_secs(3600)).await;
                        })
                        .await;
                    // Reached only when the inner deadline fired alone.
                    assert!(r.is_err());
                    corio::sleep(Duration::from_secs(3600)).await;
                })
                .await;
            assert!(r.is_err(), "{r:?}");
            assert!(outer.expired());
            assert!(start.elapsed() < Duration::from_secs(50), "waited the hour");
        }
    });
}

/// test_nested_timeout_in_finally / test_timeout_after_cancellation: a
/// timeout inside the cleanup of a cancelled body (cooperative) or task works
/// on its own deadline, a zero one included, and reports its own error.
#[test]
fn timeout_inside_cleanup_reports_its_own_expiry() {
    common::run(60, async {
        in_cooperative_task(async {
            let outer = corio::timeout(ms(10));
            let r = outer
                .run(async {
                    corio::sleep(Duration::from_secs(3600)).await; // cancelled at 10 ms
                    corio::cleanup(async {
                        for d in [Duration::ZERO, ms(10)] {
                            let inner = corio::timeout(d);
                            let r = inner.run(corio::sleep(Duration::from_secs(3600))).await;
                            assert!(r.is_err() && inner.expired(), "{d:?}");
                        }
                    })
                    .await;
                })
                .await;
            assert!(r.is_err() && outer.expired());
        })
        .await;

        // The task itself cancelled: a timeout in its cleanup still fires.
        let (tx, rx) = futures::channel::oneshot::channel();
        let task = corio::TaskBuilder::new()
            .cancel_grace(Duration::from_secs(3600))
            .spawn(async move {
                corio::sleep(Duration::from_secs(3600)).await; // the task's cancel
                let r = corio::cleanup(
                    corio::timeout(Duration::ZERO).run(corio::sleep(Duration::from_secs(3600))),
                )
                .await;
                let _ = tx.send(r.is_err());
            });
        corio::sleep(ms(5)).await;
        task.cancel();
        let out = corio::wait_for(task, Duration::from_secs(20))
            .await
            .expect("no hang");
        assert!(out.unwrap_err().is_cancelled());
        assert_eq!(
            rx.await,
            Ok(true),
            "the zero timeout in cleanup did not fire"
        );
    });
}

/// test_wait_for_issue86296: a wait_for whose future finished does not keep
/// a later cancel of the task from landing (default, drop cancellation).
#[test]
fn wait_for_done_then_task_cancelled() {
    common::run(30, async {
        let reached_end = Arc::new(AtomicBool::new(false));
        let r = reached_end.clone();
        let task = corio::create_task(async move {
            assert_eq!(
                corio::wait_for(async { 1 }, Duration::from_secs(100)).await,
                Ok(1)
            );
            corio::sleep(Duration::from_secs(3600)).await;
            r.store(true, Ordering::SeqCst);
        });
        corio::sleep(ms(5)).await;
        assert!(!task.done());
        assert!(task.cancel());
        assert!(task.await.unwrap_err().is_cancelled());
        assert!(!reached_end.load(Ordering::SeqCst));
    });
}

/// test_wait_for_reraises_exception_during_cancellation: a body whose
/// cleanup panics after the deadline cancelled it fails with that panic, not
/// with `TimeoutError`.
#[test]
fn wait_for_body_panicking_in_its_cleanup_panics() {
    common::run(30, async {
        let task = corio::TaskBuilder::new()
            .cancel_grace(Duration::from_secs(3600))
            .spawn(corio::wait_for(
                async {
                    corio::sleep(Duration::from_secs(3600)).await; // cancelled at the deadline
                    corio::cleanup(corio::sleep(ms(1))).await;
                    panic!("planted: cleanup fails");
                },
                ms(5),
            ));
        let out = corio::wait_for(task, Duration::from_secs(20))
            .await
            .expect("no hang");
        let err = out.unwrap_err();
        assert!(err.is_panic(), "{err}");
        assert_eq!(err.panic_message(), Some("planted: cleanup fails"));
    });
}
