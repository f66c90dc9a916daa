//! Timers: [`sleep`], [`sleep_until`], [`Interval`], [`timeout`].
//!
//! All timers live in one hierarchical timer wheel inside the reactor (see the
//! `wheel` module doc for the structure and why insert and cancel are O(1)).
//! The thread that drives the reactor waits in the poller until the next
//! deadline; a new, earlier deadline wakes it. On Linux the wait uses a timerfd
//! with nanosecond resolution, so timers are not rounded to milliseconds.
//!
//! Guarantees:
//! - **never early**: a timer fires at or after its deadline;
//! - **late by little** on an idle system: at most one wheel tick (16.4 µs)
//!   plus the OS wake-up latency (typically 50–100 µs on a VM);
//! - a deadline in the past completes at the first poll, without touching the
//!   wheel (a [`sleep`]'s deadline was in the future when it was made, so its
//!   first poll reads no clock: polled after its deadline, it completes at the
//!   reactor's next turn);
//! - a timer is registered on its first poll (the one lock a sleep takes) and
//!   leaves the wheel when it fires or its [`Sleep`] is dropped (see
//!   [`Reactor::pending_timers`](crate::Reactor::pending_timers)); a sleep sees
//!   that it fired without a lock or a clock read, from the wheel's time.
//!
//! These futures work under any executor: with no executor driving the
//! reactor, the fallback driver thread does.

pub(crate) mod wheel;

use crate::reactor::Reactor;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Adds `d` to now, saturating at ~30 years from now (a "never" that still fits
/// in an `Instant`).
fn far_deadline(from: Instant, d: Duration) -> Instant {
    from.checked_add(d)
        .unwrap_or_else(|| from + Duration::from_secs(86_400 * 365 * 30))
}

/// A future that completes at a deadline. Created by [`sleep`] and
/// [`sleep_until`]; reusable with [`Sleep::reset`].
///
/// ```
/// use corio_reactor::{block_on, timer::sleep};
/// use std::time::{Duration, Instant};
///
/// block_on(async {
///     let start = Instant::now();
///     sleep(Duration::from_millis(2)).await;
///     assert!(start.elapsed() >= Duration::from_millis(2)); // never early
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// Wheel entry, from the first pending poll until completion or drop.
    key: Option<usize>,
    /// The wheel tick `key` is due at.
    tick: u64,
    /// The deadline was in the future when the sleep was made (`sleep(d)`):
    /// the first poll skips the "already due?" clock read.
    future_when_made: bool,
    elapsed: bool,
    /// Where `sleep`/`sleep_until` was called: the await point a task dump shows
    /// while the task sleeps (see [`crate::await_point`]).
    at: Option<&'static std::panic::Location<'static>>,
    /// The virtual clock `key` belongs to (0: the reactor's wheel).
    #[cfg(feature = "sim")]
    clock: u64,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.key.is_some())
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

/// The current time: `Instant::now()`, or the virtual time inside a
/// simulation (feature `sim`, see [`crate::sim`]). Every deadline this
/// module computes from "now" reads it here.
///
/// ```
/// let before = std::time::Instant::now();
/// assert!(corio_reactor::timer::now() >= before);
/// ```
#[inline]
pub fn now() -> Instant {
    #[cfg(feature = "sim")]
    if let Some(t) = crate::sim::with_current(|c| c.map(|c| c.now())) {
        return t;
    }
    Instant::now()
}

/// Waits for `duration` (a very long duration saturates at ~30 years).
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: far_deadline(now(), duration),
        key: None,
        tick: 0,
        future_when_made: true,
        // A zero duration is complete already (no clock read at the first poll).
        elapsed: duration.is_zero(),
        at: Some(std::panic::Location::caller()),
        #[cfg(feature = "sim")]
        clock: 0,
    }
}

/// Waits until `deadline`; a deadline in the past completes at once.
///
/// ```
/// use corio_reactor::{block_on, timer::sleep_until};
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(1);
/// block_on(sleep_until(deadline));
/// assert!(Instant::now() >= deadline);
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    #[cfg(feature = "sim")]
    crate::sim::with_current(|c| c.map(|c| c.check_deadline(deadline)));
    Sleep {
        deadline,
        key: None,
        tick: 0,
        future_when_made: false,
        elapsed: false,
        at: Some(std::panic::Location::caller()),
        #[cfg(feature = "sim")]
        clock: 0,
    }
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the sleep has completed (it was polled after its deadline).
    pub fn is_elapsed(&self) -> bool {
        self.elapsed
    }

    /// Moves the deadline (earlier or later), even after completion: the sleep
    /// then waits again. O(1): the armed timer is given up and the next poll
    /// arms one for the new deadline (or completes, if it is due already).
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.elapsed = false;
        self.future_when_made = false;
        #[cfg(feature = "sim")]
        if self.clock != 0 {
            crate::sim::with_current(|c| match c {
                Some(c) if c.id() == self.clock => {
                    c.check_deadline(deadline);
                    if let Some(key) = self.key {
                        c.reset_timer(key, deadline);
                    }
                }
                // Its simulation is over: the timer went with it.
                _ => self.key = None,
            });
            return;
        }
        if let Some(key) = self.key.take() {
            Reactor::get().cancel_timer(key, self.tick);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let poll = this.poll_sleep(cx);
        if poll.is_pending() {
            crate::await_point::record(this.at);
        }
        poll
    }
}

impl Sleep {
    fn poll_sleep(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let this = self;
        // A cancelled task's sleep ends at once (see the `cancel` module).
        if this.elapsed || crate::cancel::is_cancelled() {
            return Poll::Ready(());
        }
        #[cfg(feature = "sim")]
        if let Some(ready) = this.poll_virtual(cx) {
            return ready;
        }
        let reactor = Reactor::get();
        match this.key {
            None => {
                // A deadline already past completes here, without the wheel.
                if !this.future_when_made && Instant::now() >= this.deadline {
                    this.elapsed = true;
                    return Poll::Ready(());
                }
                let tick = reactor.deadline_tick(this.deadline);
                match reactor.arm_timer(tick, cx.waker()) {
                    Some(key) => {
                        this.key = Some(key);
                        this.tick = tick;
                        Poll::Pending
                    }
                    // The wheel's time is past the deadline.
                    None => {
                        this.elapsed = true;
                        Poll::Ready(())
                    }
                }
            }
            Some(key) => match reactor.poll_timer(key, this.tick, cx.waker()) {
                Poll::Ready(()) => {
                    // The entry left the wheel when it fired.
                    this.key = None;
                    this.elapsed = true;
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(feature = "sim")]
impl Sleep {
    /// Polls on the virtual clock installed on this thread, if any (`None`: no
    /// simulation here, use the reactor). A `Sleep` armed on a clock stays on it.
    fn poll_virtual(&mut self, cx: &mut Context<'_>) -> Option<Poll<()>> {
        crate::sim::with_current(|c| {
            if self.clock != 0 && self.key.is_none() && !c.is_some_and(|c| c.id() == self.clock) {
                // Unarmed, and its simulation is over: start afresh.
                self.clock = 0;
            }
            let c = match c {
                Some(c) if self.clock == 0 && self.key.is_none() => {
                    self.clock = c.id();
                    c
                }
                Some(c) if self.clock == c.id() => c,
                // Armed on the reactor's wheel.
                _ if self.clock == 0 => return None,
                // Armed on a clock that is gone: it never fires.
                _ => return Some(Poll::Pending),
            };
            let ready = c.poll_timer(&mut self.key, self.deadline, cx.waker());
            self.elapsed = ready.is_ready();
            Some(ready)
        })
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        #[cfg(feature = "sim")]
        if self.clock != 0 {
            if let Some(key) = self.key.take() {
                crate::sim::with_current(|c| match c {
                    Some(c) if c.id() == self.clock => c.remove_timer(key),
                    _ => {}
                });
            }
            return;
        }
        if let Some(key) = self.key.take() {
            Reactor::get().cancel_timer(key, self.tick);
        }
    }
}

/// What an [`Interval`] does when ticks were missed (the task was busy or
/// blocked for longer than a period).
///
/// With period 10 ms, ticks due at 10, 20, 30, 40 ms and the task busy from 5
/// to 35 ms:
/// - `Burst` (default, like tokio): ticks 10, 20, 30 are delivered at once at
///   35 ms, then 40, 50, ...: the tick count matches elapsed time.
/// - `Delay`: one tick at 35 ms, then 45, 55, ...: the schedule shifts so that
///   ticks are at least a period apart.
/// - `Skip`: one tick at 35 ms, then 40, 50, ...: missed ticks are dropped and
///   the original grid is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Deliver every missed tick as fast as possible, then resume the schedule.
    #[default]
    Burst,
    /// Restart the schedule one period after the late tick.
    Delay,
    /// Drop missed ticks; the next tick is the next point on the original grid.
    Skip,
}

/// Ticks every `period`. Created by [`interval`] or [`interval_at`].
///
/// ```
/// use corio_reactor::{block_on, timer::interval};
/// use std::time::{Duration, Instant};
///
/// block_on(async {
///     let start = Instant::now();
///     let mut every = interval(Duration::from_millis(2));
///     every.tick().await; // the first tick is immediate
///     every.tick().await;
///     every.tick().await;
///     assert!(start.elapsed() >= Duration::from_millis(4));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

/// An [`Interval`] whose first tick is now.
///
/// # Panics
///
/// If `period` is zero (an interval that never waits would spin).
pub fn interval(period: Duration) -> Interval {
    interval_at(now(), period)
}

/// An [`Interval`] whose first tick is at `start`.
///
/// # Panics
///
/// If `period` is zero (an interval that never waits would spin).
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        period > Duration::ZERO,
        "corio_reactor::timer::interval: the period must be non-zero"
    );
    Interval {
        sleep: sleep_until(start),
        period,
        missed: MissedTickBehavior::default(),
    }
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    ///
    /// While it waits, the caller's line is the task's await point.
    #[track_caller]
    pub fn tick(&mut self) -> crate::await_point::At<impl Future<Output = Instant> + '_> {
        crate::await_point::At::caller(std::future::poll_fn(move |cx| self.poll_tick(cx)))
    }

    /// Poll form of [`tick`](Interval::tick).
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = now();
        let on_grid = far_deadline(scheduled, self.period);
        let next = if now < on_grid {
            on_grid
        } else {
            // At least one whole tick was missed.
            match self.missed {
                MissedTickBehavior::Burst => on_grid,
                MissedTickBehavior::Delay => far_deadline(now, self.period),
                MissedTickBehavior::Skip => {
                    let behind = now.duration_since(scheduled).as_nanos();
                    let periods = behind / self.period.as_nanos() + 1;
                    let ahead = self.period.as_nanos().saturating_mul(periods);
                    let ahead = Duration::from_nanos(ahead.min(u64::MAX as u128) as u64);
                    far_deadline(scheduled, ahead)
                }
            }
        };
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.sleep.reset(far_deadline(now(), self.period));
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The current missed-tick behaviour.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the missed-tick behaviour.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

impl futures_core::Stream for Interval {
    type Item = Instant;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// The error of [`timeout`]/[`timeout_at`]: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

pin_project_lite::pin_project! {
    /// A future with a deadline; see [`timeout`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

/// Runs `future` with a time limit: `Ok(output)` if it completes within
/// `duration`, `Err(Elapsed)` otherwise (the future is then dropped with the
/// `Timeout`). The future is polled first, so a ready future wins even with a
/// zero duration.
///
/// ```
/// use corio_reactor::{block_on, timer::{sleep, timeout}};
/// use std::time::Duration;
///
/// block_on(async {
///     assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
///     let slow = sleep(Duration::from_secs(10));
///     assert!(timeout(Duration::from_millis(1), slow).await.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        // Like `sleep`: one clock read, here, and none at the first poll.
        sleep: sleep(duration),
    }
}

/// Like [`timeout`] with an absolute deadline.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// Unwraps the future (the deadline is dropped).
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}
