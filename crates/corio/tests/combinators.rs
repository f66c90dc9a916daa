//! gather, gather!, wait + ReturnWhen, as_completed, shield, Deferred.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use corio::{Deferred, ReturnWhen};
use futures::StreamExt;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn gather_keeps_argument_order_and_runs_concurrently() {
    // Real runtime only (not under tests/sim_facade.rs): it measures concurrency on the real clock.
    common::run_real(20, async {
        let start = Instant::now();
        // Concurrent: all three have started before any finishes (run one after
        // another, the first would finish alone), however loaded the machine.
        let started = Arc::new(AtomicUsize::new(0));
        let out = corio::gather([300u64, 100, 200].map(|d| {
            let started = started.clone();
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                corio::sleep(ms(d)).await;
                (d, started.load(Ordering::SeqCst))
            }
        }))
        .await;
        assert_eq!(out, vec![(300, 3), (100, 3), (200, 3)]);
        assert!(start.elapsed() >= ms(300));

        let (a, b, c) = corio::gather!(async { 1u8 }, async { "x" }, corio::sleep(ms(5)));
        assert_eq!((a, b, c), (1, "x", ()));
        let (single,) = corio::gather!(async { 9 });
        assert_eq!(single, 9);
    });
}

#[test]
fn gather_of_tasks_returns_exceptions_as_values() {
    common::run(20, async {
        let tasks = vec![
            corio::create_task(async { 1 }),
            corio::create_task(async { panic!("bad one") }),
            corio::create_task(async { 3 }),
        ];
        let out = corio::gather(tasks).await;
        assert_eq!(*out[0].as_ref().unwrap(), 1);
        assert!(out[1].as_ref().unwrap_err().is_panic());
        assert_eq!(*out[2].as_ref().unwrap(), 3);
    });
}

#[test]
fn wait_first_completed_first_exception_all_completed() {
    common::run(20, async {
        let mk = |d: u64, fail: bool| {
            corio::create_task(async move {
                corio::sleep(ms(d)).await;
                if fail {
                    panic!("failed after {d} ms");
                }
                d
            })
        };
        // The long sleepers are cancelled once checked, so they cost no time; they
        // are long so that a slow panic (a backtrace printed under a sanitizer
        // took 7 s) cannot let them finish first.
        let (done, pending) = corio::wait(
            vec![mk(600_000, false), mk(10, false)],
            ReturnWhen::FirstCompleted,
        )
        .await;
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].0, 1);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].0, 0);
        pending[0].1.cancel();

        let (done, pending) = corio::wait(
            vec![mk(10, false), mk(30, true), mk(600_000, false)],
            ReturnWhen::FirstException,
        )
        .await;
        // The failure is done; the 10 ms success normally too (timing on a
        // loaded machine decides); the long one is still pending.
        assert!(done.iter().any(|(i, r)| *i == 1 && r.is_err()));
        assert_eq!(done.len() + pending.len(), 3);
        assert!(pending.iter().any(|(i, _)| *i == 2));
        for (_, t) in &pending {
            t.cancel();
        }

        let (done, pending) =
            corio::wait(vec![mk(10, false), mk(20, true)], ReturnWhen::AllCompleted).await;
        assert_eq!((done.len(), pending.len()), (2, 0));

        // FirstException with no failure waits for all.
        let (done, pending) = corio::wait(
            vec![mk(10, false), mk(20, false)],
            ReturnWhen::FirstException,
        )
        .await;
        assert_eq!((done.len(), pending.len()), (2, 0));
    });
}

#[test]
fn as_completed_yields_in_completion_order() {
    common::run(20, async {
        // 150 ms apart: a scheduling stall shorter than that cannot reorder them.
        let mut s = corio::as_completed([320u64, 20, 170].map(|d| async move {
            corio::sleep(ms(d)).await;
            d
        }));
        assert_eq!(futures::Stream::size_hint(&s), (3, Some(3)));
        let mut order = Vec::new();
        while let Some((i, d)) = s.next().await {
            order.push((i, d));
        }
        assert_eq!(order, vec![(1, 20), (2, 170), (0, 320)]);
        let mut s = corio::as_completed([async { 7 }]);
        assert_eq!(s.next_completed().await, Some((0, 7)));
        assert_eq!(s.next_completed().await, None);
        // It is a futures_core::Stream too.
        let via_stream: Vec<_> = corio::as_completed([async { 1 }]).collect().await;
        assert_eq!(via_stream, vec![(0, 1)]);
    });
}

#[test]
fn shield_survives_the_outer_cancellation() {
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    common::run(20, async move {
        let work = async move {
            corio::sleep(ms(50)).await;
            f.store(true, Ordering::SeqCst);
            7
        };
        let outer = corio::wait_for(corio::shield(work), ms(5)).await;
        assert!(outer.is_err());
        // Awaiting a shielded future normally gives its result.
        assert_eq!(corio::shield(async { 3 }).await.unwrap(), 3);
        let start = Instant::now();
        while !finished.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
            corio::sleep(ms(5)).await;
        }
        assert!(finished.load(Ordering::SeqCst));
    });
}

#[test]
fn deferred_set_result_exception_cancel() {
    common::run(20, async {
        let d: Deferred<String> = Deferred::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let d = d.clone();
                corio::create_task(d)
            })
            .collect();
        let setter = d.clone();
        corio::Handle::current().call_later(ms(10), move || {
            setter.set_result("v".to_owned()).unwrap();
        });
        for w in waiters {
            assert_eq!(w.await.unwrap().unwrap(), "v");
        }
        assert!(d.done());
        assert_eq!(d.try_result().unwrap().unwrap(), "v");
        let e = d.set_result("again".into()).unwrap_err();
        assert!(e.to_string().contains("already"));
        assert!(!d.cancel());

        let failing: Deferred<u8> = Deferred::new();
        failing.set_exception("bad input").unwrap();
        let err = failing.clone().await.unwrap_err();
        assert!(!err.is_cancelled(), "{err:?}");
        assert_eq!(err.exception().unwrap().to_string(), "bad input");

        let c: Deferred<u8> = Deferred::new();
        assert!(c.try_result().is_none());
        let waiter = corio::create_task(c.clone());
        corio::sleep(ms(5)).await;
        assert!(c.cancel());
        assert!(c.cancelled());
        assert!(waiter.await.unwrap().unwrap_err().is_cancelled());
    });
}

#[test]
fn wait_with_a_timeout_returns_what_finished() {
    // Real runtime only (not under tests/sim_facade.rs): it measures the timeout on the real clock.
    common::run_real(20, async {
        let quick = corio::create_task(async { 1 });
        let slow = corio::create_task(async {
            corio::sleep(Duration::from_secs(60)).await;
            2
        });
        let start = Instant::now();
        let (done, pending) = corio::wait(vec![quick, slow], ReturnWhen::AllCompleted)
            .timeout(ms(50))
            .await;
        assert!(start.elapsed() >= ms(50));
        assert_eq!(done.len(), 1);
        assert_eq!(*done[0].1.as_ref().unwrap(), 1);
        assert_eq!(pending.len(), 1);
        assert!(!pending[0].1.done(), "nothing is cancelled by the timeout");
        pending[0].1.cancel();
    });
}
