//! Timers: order, never early, past deadlines, reset, intervals, timeouts.
mod common;

use common::*;
use corio_reactor::timer::{
    interval, interval_at, sleep, sleep_until, timeout, timeout_at, MissedTickBehavior,
};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use std::task::Poll;
use std::time::{Duration, Instant};

/// 100,000 timers with random deadlines complete in deadline order (up to one
/// wheel tick) and never before their deadline.
#[test]
fn hundred_thousand_random_timers_in_order_never_early() {
    /// The figure.
    const N: usize = 100_000;
    /// Deadlines start this far ahead so that registering all of them (a debug
    /// build on a loaded 2-core box) finishes first; they then spread over 500 ms.
    const LEAD: Duration = Duration::from_millis(400);
    const SPREAD_US: u64 = 500_000;
    let mut rng = fastrand::Rng::with_seed(4);
    let base = Instant::now() + LEAD;
    let deadlines: Vec<Instant> = (0..N)
        .map(|_| base + Duration::from_micros(rng.u64(0..SPREAD_US)))
        .collect();
    // Counts sleeps that have been polled (so registered) at least once.
    let polled = std::cell::Cell::new(0usize);
    let (fired, registered_at) = run(60, async {
        let polled = &polled;
        let mut set: FuturesUnordered<_> = deadlines
            .iter()
            .enumerate()
            .map(|(i, &d)| async move {
                polled.set(polled.get() + 1);
                sleep_until(d).await;
                (i, Instant::now())
            })
            .collect();
        let mut fired = Vec::with_capacity(N);
        // Poll until every sleep has been registered. On a slow machine some
        // deadlines pass meanwhile: keep what those polls return (they count),
        // and keep polling when FuturesUnordered yields early.
        futures::future::poll_fn(|cx| loop {
            match set.poll_next_unpin(cx) {
                Poll::Ready(Some(x)) => fired.push(x),
                Poll::Ready(None) => return Poll::Ready(()),
                Poll::Pending if polled.get() == N => return Poll::Ready(()),
                Poll::Pending => {}
            }
        })
        .await;
        let registered_at = Instant::now();
        while let Some(x) = set.next().await {
            fired.push(x);
        }
        (fired, registered_at)
    });
    assert_eq!(fired.len(), N);
    for &(i, at) in &fired {
        assert!(
            at >= deadlines[i],
            "timer {i} fired {:?} early",
            deadlines[i] - at
        );
    }
    if registered_at > base {
        eprintln!("registration took longer than {LEAD:?}: order not checked (machine too slow)");
        return;
    }
    // One wheel tick (16.4 µs) plus rounding: timers in the same tick may swap.
    let tick = Duration::from_micros(17);
    for w in fired.windows(2) {
        let (a, b) = (deadlines[w[0].0], deadlines[w[1].0]);
        assert!(
            b + tick >= a,
            "timer with deadline {b:?} fired after one due at {a:?}"
        );
    }
}

#[test]
fn past_deadline_fires_at_once() {
    run(10, async {
        let start = Instant::now();
        // Complete at the first poll, without a trip through the driver.
        assert!(futures::poll!(sleep_until(start - Duration::from_secs(1))).is_ready());
        assert!(futures::poll!(sleep(Duration::ZERO)).is_ready());
        assert!(futures::poll!(sleep_until(Instant::now())).is_ready());
        // (Promptness is what the first-poll checks above show; a wall-clock bound
        // here would only measure how loaded the machine is.)
        sleep_until(start - Duration::from_secs(1)).await;
    });
}

#[test]
fn sleep_is_never_early() {
    run(10, async {
        for ms in [1u64, 2, 3, 5, 10] {
            let start = Instant::now();
            sleep(Duration::from_millis(ms)).await;
            assert!(start.elapsed() >= Duration::from_millis(ms));
        }
    });
}

#[test]
fn reset_moves_deadline_both_ways() {
    run(10, async {
        let start = Instant::now();
        let mut s = sleep(Duration::from_secs(100));
        // Register it, then pull it in.
        assert!(futures::poll!(&mut s).is_pending());
        s.reset(start + Duration::from_millis(5));
        (&mut s).await;
        assert!(s.is_elapsed());
        assert!(start.elapsed() >= Duration::from_millis(5));
        assert!(start.elapsed() < Duration::from_secs(50));
        // Reuse after completion, pushed out.
        let again = Instant::now();
        s.reset(again + Duration::from_millis(3));
        assert!(!s.is_elapsed());
        (&mut s).await;
        assert!(again.elapsed() >= Duration::from_millis(3));
    });
}

#[test]
fn interval_burst_delay_skip() {
    run(20, async {
        let period = Duration::from_millis(20);
        for behavior in [
            MissedTickBehavior::Burst,
            MissedTickBehavior::Delay,
            MissedTickBehavior::Skip,
        ] {
            let start = Instant::now();
            let mut iv = interval_at(start, period);
            iv.set_missed_tick_behavior(behavior);
            assert_eq!(iv.missed_tick_behavior(), behavior);
            assert_eq!(iv.tick().await, start);
            // Block the thread for 3.5 periods: ticks at 20, 40, 60 ms are missed.
            std::thread::sleep(period * 7 / 2);
            let t1 = iv.tick().await;
            let late = Instant::now();
            assert_eq!(t1, start + period, "{behavior:?}: the first missed tick");
            let t2 = iv.tick().await;
            let now = Instant::now();
            match behavior {
                // Catch up: 40 ms is delivered at once.
                MissedTickBehavior::Burst => assert_eq!(t2, start + period * 2),
                // One period after the late tick (delivered at >= 70 ms).
                MissedTickBehavior::Delay => {
                    assert!(t2 >= start + period * 7 / 2 + period, "{t2:?}");
                    assert!(t2 <= late + period);
                    assert!(now >= t2);
                }
                // The next grid point after the late tick (80 ms on an idle box).
                MissedTickBehavior::Skip => {
                    let offset = (t2 - start).as_nanos();
                    assert_eq!(offset % period.as_nanos(), 0, "on the grid");
                    assert!(t2 >= start + period * 4 && t2 <= late + period);
                    assert!(now >= t2);
                }
            }
        }
    });
}

#[test]
fn interval_ticks_at_period() {
    run(10, async {
        let start = Instant::now();
        let mut iv = interval(Duration::from_millis(5));
        let mut prev = iv.tick().await;
        for _ in 0..5 {
            let t = iv.tick().await;
            assert_eq!(t - prev, Duration::from_millis(5));
            assert!(Instant::now() >= t);
            prev = t;
        }
        assert!(start.elapsed() >= Duration::from_millis(25));
    });
}

#[test]
fn timeout_ok_and_elapsed() {
    run(10, async {
        assert_eq!(
            timeout(Duration::from_millis(100), async { 5 }).await,
            Ok(5)
        );
        let start = Instant::now();
        let r = timeout(Duration::from_millis(10), sleep(Duration::from_secs(60))).await;
        let err = r.expect_err("must time out");
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert!(err.to_string().contains("deadline has elapsed"));
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        let r = timeout_at(
            Instant::now() - Duration::from_secs(1),
            sleep(Duration::ZERO),
        )
        .await;
        assert_eq!(r, Ok(()), "a ready future wins over a past deadline");
    });
}
