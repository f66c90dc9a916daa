//! sleep, sleep_until, interval, wait_for, timeout_at, yield_now.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn sleep_and_sleep_until_wait_at_least_that_long() {
    // Real runtime only (not under tests/sim_facade.rs): it measures sleeps on the real clock.
    common::run_real(20, async {
        let start = Instant::now();
        corio::sleep(ms(50)).await;
        assert!(start.elapsed() >= ms(50));
        corio::sleep_until(start + ms(80)).await;
        let e = start.elapsed();
        // The upper bound only catches a lost timer, not slowness (a loaded machine).
        assert!(e >= ms(80) && e < ms(10_000), "{e:?}");
    });
}

#[test]
fn interval_ticks() {
    // Real runtime only (not under tests/sim_facade.rs): it measures the ticks on the real clock.
    common::run_real(20, async {
        let start = Instant::now();
        let mut iv = corio::interval(ms(20));
        for _ in 0..4 {
            iv.tick().await;
        }
        // first tick is immediate, then 3 periods
        let e = start.elapsed();
        assert!(e >= ms(55) && e < ms(10_000), "{e:?}");
    });
}

#[test]
fn wait_for_returns_the_output_or_times_out_and_drops() {
    let dropped = Arc::new(AtomicBool::new(false));
    let d = dropped.clone();
    common::run(20, async move {
        assert_eq!(corio::wait_for(async { 1 }, ms(100)).await, Ok(1));
        struct Guard(Arc<AtomicBool>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let g = Guard(d.clone());
        let start = Instant::now();
        let r = corio::wait_for(
            async move {
                let _g = g;
                corio::sleep(Duration::from_secs(3600)).await;
            },
            ms(20),
        )
        .await;
        let err = r.unwrap_err();
        assert_eq!(err.to_string(), "deadline has elapsed");
        assert!(
            d.load(Ordering::SeqCst),
            "inner future dropped before wait_for returned"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
    });
    assert!(dropped.load(Ordering::SeqCst));
}

/// A future that would only notice a cancellation request on its next poll (the
/// asyncio pattern of a coroutine that catches CancelledError and carries on).
/// It is never woken again, so that poll never comes: wait_for must still return
/// on time, by dropping it.
struct IgnoresCancellation {
    polls: Arc<AtomicUsize>,
    dropped: Arc<AtomicBool>,
}

impl Future for IgnoresCancellation {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        Poll::Pending // and never wakes
    }
}

impl Drop for IgnoresCancellation {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[test]
fn wait_for_a_future_that_ignores_cancellation_until_its_next_poll() {
    // Real runtime only (not under tests/sim_facade.rs): it measures the wait on the real clock.
    common::run_real(20, async {
        let polls = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicBool::new(false));
        let fut = IgnoresCancellation {
            polls: polls.clone(),
            dropped: dropped.clone(),
        };
        let start = Instant::now();
        let r = corio::wait_for(fut, ms(30)).await;
        let took = start.elapsed();
        assert!(r.is_err());
        assert!(took >= ms(30) && took < Duration::from_secs(5), "{took:?}");
        assert!(
            dropped.load(Ordering::SeqCst),
            "dropped, not left to notice later"
        );
        // Polled on the first poll of wait_for and when the timer woke it, never after.
        let n = polls.load(Ordering::SeqCst);
        assert!((1..=2).contains(&n), "{n}");
    });
}

#[test]
fn timeout_at_uses_an_absolute_deadline() {
    // Real runtime only (not under tests/sim_facade.rs): its deadline comes from Instant::now().
    common::run_real(20, async {
        let deadline = Instant::now() + ms(30);
        assert!(corio::timeout_at(deadline)
            .run(corio::sleep(Duration::from_secs(60)))
            .await
            .is_err());
        assert!(Instant::now() >= deadline);
        assert_eq!(
            corio::timeout_at(Instant::now() + ms(500))
                .run(async { 2 })
                .await,
            Ok(2)
        );
        // A huge timeout does not overflow.
        assert_eq!(corio::wait_for(async { 3 }, Duration::MAX).await, Ok(3));
    });
}

#[test]
fn yield_now_lets_other_tasks_run() {
    common::timeout(20, || {
        let rt = corio::Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(async {
            let flag = Arc::new(AtomicBool::new(false));
            let f = flag.clone();
            let t = corio::create_task(async move {
                let other = corio::create_task(async move { f.store(true, Ordering::SeqCst) });
                let mut spins = 0;
                while !flag.load(Ordering::SeqCst) {
                    corio::yield_now().await;
                    spins += 1;
                    assert!(spins < 1_000_000, "the other task never ran");
                }
                other.await.unwrap();
            });
            t.await.unwrap();
        });
    });
}
