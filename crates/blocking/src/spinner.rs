//! When an idle pool thread may spin for the next job, and when a job pushed
//! meanwhile may count on that spinner: the pool's own evidence, not the load
//! average.
//!
//! A thread that just went idle polls the queue for a short budget (see `pool.rs`
//! for why: a wake-up costs far more than a trivial job). On an oversubscribed CPU
//! that spin hurts in two ways, both seen in traces with one busy loop per core:
//!
//! 1. **The spinner holds the core the submitter needs.** The job's completion woke
//!    the awaiting thread; with the other core busy, the kernel queues it on the
//!    spinner's own core and does not preempt the spinner (which has a fresh time
//!    slice), so the awaiter (and its next job) waits for the whole spin. The
//!    signature: the spin expired, and the next job was pushed within
//!    [`HURT_WINDOW`] of its end from the CPU the spinner ran on (the submitter
//!    ran there as soon as the spinner slept). The CPU check keeps a burst of
//!    jobs that merely came after the spin (its submitter on the other core was
//!    waiting for other results) from being taken for harm.
//! 2. **The spinner loses its core while counted as coming.** A push that sees a
//!    spinner wakes nobody; if the spinner was switched out, the job waits for its
//!    next time slice. So the spinner publishes a heartbeat (the time of its last
//!    poll round) and a push counts on it only while the heartbeat is fresh
//!    ([`STALE_AFTER`]); otherwise it wakes a sleeper or starts a thread as if
//!    nobody spun. A spin that noticed it was switched out (`spin_until`'s
//!    `Preempted`) is evidence of the same.
//!
//! Either evidence makes the spinner **quiet**: spins of at most [`QUIET_SPIN`]
//! for a cool-down that starts at [`QUIET_MIN`] and doubles while spins keep
//! hurting, up to [`QUIET_MAX`]; a spin that catches work ends it (a burst of
//! jobs pushed back to back is still caught, as in a pool that runs 16 calls at
//! once). On top of that the [`SpinGovernor`] halves the budget after each spin
//! that caught nothing or hurt, and after a few such spins only probes spin. So on
//! an idle machine the spin stays on and catches back-to-back jobs without a
//! wake-up, and on an oversubscribed one a spin on the submitter's core lasts a
//! few microseconds, rarely.
//!
//! All of it is heuristics on relaxed atomics: any value read only decides whether
//! to spin or whether to wake one more thread, and the claim protocol stays correct
//! either way (an extra claimer finds the queue empty and goes idle again). Under
//! loom time is not modelled: the spinner polls twice with a yield in between, and
//! whether a push counts on it is fixed per pool (`Builder::loom_spinner`), so the
//! models cover both claims.

use std::time::Duration;

use corio_core::spin::SpinGovernor;
#[cfg(not(loom))]
use corio_core::spin::{spin_until_each_round, SpinOutcome};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
#[cfg(not(loom))]
use std::time::Instant;

// These durations serve the time-based part of the policy, which loom builds leave
// out (hence their `allow(dead_code)` under loom).

/// A job pushed this soon after a spin expired waited for the spinner's core
/// (signature 1 in the module docs). A context switch plus a task poll take a few
/// microseconds; on an idle machine the next job lands anywhere in the idle gap.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const HURT_WINDOW: Duration = Duration::from_micros(10);
/// A spinner whose last poll round is older than this is off its core (it polls
/// the clock every few dozen polls, well under a microsecond apart).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const STALE_AFTER: Duration = corio_core::spin::PREEMPTED_GAP;
/// The longest spin while quiet: enough to catch a burst of jobs pushed back to
/// back (a push takes well under a microsecond), short enough that a spin on the
/// submitter's core costs little.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const QUIET_SPIN: Duration = Duration::from_micros(4);
/// The first cool-down after a spin that hurt.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const QUIET_MIN: Duration = Duration::from_millis(1);
/// The longest cool-down, reached after spins hurt again and again.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const QUIET_MAX: Duration = Duration::from_millis(32);

/// The spin policy of one pool (see the module docs).
#[derive(Debug)]
pub(crate) struct Spinner {
    governor: SpinGovernor,
    #[cfg(not(loom))]
    clock: Clock,
    /// Under loom: whether a push counts on a spinner (fixed per pool).
    #[cfg(loom)]
    counted_on: bool,
}

/// The time-based part, outside loom.
#[cfg(not(loom))]
#[derive(Debug)]
struct Clock {
    epoch: Instant,
    /// Nanoseconds since `epoch` of the spinner's last poll round (its heartbeat);
    /// 0 before the first spin.
    polled_at: AtomicU64,
    /// When the last spin expired with nothing found; 0 once a push looked at it.
    expired_at: AtomicU64,
    /// The CPU that spin ran on (`u32::MAX`: unknown).
    expired_on: AtomicU32,
    /// No spin before this time; 0 when not quiet.
    quiet_until: AtomicU64,
    /// The next cool-down's length.
    quiet_for: AtomicU64,
}

#[cfg(not(loom))]
impl Clock {
    /// Nanoseconds since the epoch, at least 1 (0 means "none" in the fields).
    fn now(&self) -> u64 {
        self.at(Instant::now())
    }

    fn at(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX - 1)
            + 1
    }
}

/// The CPU the calling thread runs on now, `u32::MAX` if unknown.
#[cfg(all(not(loom), target_os = "linux"))]
fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu takes no arguments and only reads the calling thread's
    // CPU number (from rseq or the vDSO); it returns -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).unwrap_or(u32::MAX)
}

#[cfg(all(not(loom), not(target_os = "linux")))]
fn current_cpu() -> u32 {
    u32::MAX
}

#[cfg_attr(loom, allow(dead_code))]
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Spinner {
    /// A spinner whose full budget is `max` (zero: never spin).
    pub(crate) fn new(max: Duration) -> Spinner {
        Spinner {
            governor: SpinGovernor::new(max),
            #[cfg(not(loom))]
            clock: Clock {
                epoch: Instant::now(),
                polled_at: AtomicU64::new(0),
                expired_at: AtomicU64::new(0),
                expired_on: AtomicU32::new(u32::MAX),
                quiet_until: AtomicU64::new(0),
                quiet_for: AtomicU64::new(nanos(QUIET_MIN)),
            },
            #[cfg(loom)]
            counted_on: true,
        }
    }

    /// Under loom: a spinner that spins, and that pushes count on (`counted_on`)
    /// or treat as switched out.
    #[cfg(loom)]
    pub(crate) fn for_loom(counted_on: bool) -> Spinner {
        Spinner {
            governor: SpinGovernor::new(Duration::from_nanos(1)),
            counted_on,
        }
    }

    /// How long an idle thread may spin now: zero while quiet, else what the
    /// governor allows. Called under the pool lock by the thread about to count
    /// itself as spinning; a non-zero budget starts the heartbeat, so a push
    /// between this call and the first poll round already counts on the spinner.
    pub(crate) fn budget(&self) -> Duration {
        #[cfg(not(loom))]
        {
            self.budget_at(self.clock.now())
        }
        #[cfg(loom)]
        {
            self.governor.budget_from_history()
        }
    }

    #[cfg(not(loom))]
    fn budget_at(&self, now: u64) -> Duration {
        let mut budget = self.governor.budget_from_history();
        let quiet_until = self.clock.quiet_until.load(Relaxed);
        if quiet_until != 0 {
            if now < quiet_until {
                budget = budget.min(QUIET_SPIN);
            } else {
                self.clock.quiet_until.store(0, Relaxed);
            }
        }
        if !budget.is_zero() {
            self.clock.polled_at.store(now, Relaxed);
        }
        budget
    }

    /// Polls `ready` for at most `budget` (the caller is counted as spinning) and
    /// learns from the outcome.
    pub(crate) fn spin(&self, budget: Duration, ready: impl FnMut() -> bool) {
        #[cfg(not(loom))]
        {
            let clock = &self.clock;
            let outcome = spin_until_each_round(budget, ready, |now| {
                clock.polled_at.store(clock.at(now), Relaxed);
            });
            match outcome {
                SpinOutcome::Found => {
                    self.governor.record(true);
                    clock.quiet_until.store(0, Relaxed);
                    clock.quiet_for.store(nanos(QUIET_MIN), Relaxed);
                }
                SpinOutcome::Expired => {
                    self.governor.record(false);
                    clock.expired_on.store(current_cpu(), Relaxed);
                    clock.expired_at.store(clock.now(), Relaxed);
                }
                SpinOutcome::Preempted => self.hurt(clock.now()),
            }
        }
        #[cfg(loom)]
        {
            let _ = budget;
            let mut ready = ready;
            for _ in 0..2 {
                if ready() {
                    return;
                }
                loom::thread::yield_now();
            }
        }
    }

    /// Called by every push before it takes the pool lock: a push right after a
    /// spin expired means the spin held the submitter's core (signature 1).
    pub(crate) fn note_push(&self) {
        #[cfg(not(loom))]
        if self.clock.expired_at.load(Relaxed) != 0 {
            self.note_push_at(self.clock.now(), current_cpu());
        }
    }

    /// Signature 1, for a push at `now` from `cpu`: the spin expired just before,
    /// on the submitter's own CPU (when both are known: a submitter on another
    /// core was not held up by the spin, it was waiting for something else).
    #[cfg(not(loom))]
    fn note_push_at(&self, now: u64, cpu: u32) {
        let expired_at = self.clock.expired_at.swap(0, Relaxed);
        if expired_at == 0 || now.saturating_sub(expired_at) > nanos(HURT_WINDOW) {
            return;
        }
        let spun_on = self.clock.expired_on.load(Relaxed);
        if cpu == u32::MAX || spun_on == u32::MAX || cpu == spun_on {
            self.hurt(now);
        }
    }

    /// Whether a push may count on the thread counted as spinning: it polled
    /// recently, so it is on its core (signature 2). Called under the pool lock.
    pub(crate) fn counts_on_spinner(&self) -> bool {
        #[cfg(not(loom))]
        {
            self.counts_on_spinner_at(self.clock.now())
        }
        #[cfg(loom)]
        {
            self.counted_on
        }
    }

    #[cfg(not(loom))]
    fn counts_on_spinner_at(&self, now: u64) -> bool {
        let polled_at = self.clock.polled_at.load(Relaxed);
        polled_at != 0 && now.saturating_sub(polled_at) <= nanos(STALE_AFTER)
    }

    /// A spin hurt: go quiet for the current cool-down and double the next one.
    #[cfg(not(loom))]
    fn hurt(&self, now: u64) {
        self.governor.record(false);
        let clock = &self.clock;
        let quiet_for = clock.quiet_for.load(Relaxed);
        clock
            .quiet_until
            .store(now.saturating_add(quiet_for), Relaxed);
        clock
            .quiet_for
            .store((quiet_for * 2).min(nanos(QUIET_MAX)), Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const US: u64 = 1_000;

    /// A spinner whose clock reads are replaced by explicit times (in µs).
    fn spinner() -> Spinner {
        Spinner::new(Duration::from_micros(50))
    }

    #[test]
    fn a_push_right_after_an_expired_spin_makes_it_quiet() {
        let s = spinner();
        s.clock.expired_at.store(1_000 * US, Relaxed);
        s.clock.expired_on.store(1, Relaxed);
        s.note_push_at(1_003 * US, 1);
        assert!(
            s.budget_at(1_004 * US) <= QUIET_SPIN,
            "quiet after the spin that hurt"
        );
        assert!(
            !s.budget_at(1_003 * US + nanos(QUIET_MIN)).is_zero(),
            "spins again once the cool-down is over"
        );
    }

    #[test]
    fn a_push_long_after_the_spin_expired_leaves_it_on() {
        let s = spinner();
        s.clock.expired_at.store(1_000 * US, Relaxed);
        s.clock.expired_on.store(1, Relaxed);
        s.note_push_at(1_000 * US + nanos(HURT_WINDOW) + 1, 1);
        assert!(s.budget_at(1_100 * US) > QUIET_SPIN);
        assert_eq!(
            s.clock.expired_at.load(Relaxed),
            0,
            "each expiry is judged once"
        );
    }

    #[test]
    fn a_push_right_after_the_spin_from_another_cpu_leaves_it_on() {
        let s = spinner();
        s.clock.expired_at.store(1_000 * US, Relaxed);
        s.clock.expired_on.store(0, Relaxed);
        s.note_push_at(1_001 * US, 1);
        assert!(s.budget_at(1_002 * US) > QUIET_SPIN);
    }

    #[test]
    fn quiet_periods_double_up_to_the_maximum() {
        let s = spinner();
        let mut now = 1_000 * US;
        for _ in 0..10 {
            s.hurt(now);
            now += 1;
        }
        assert_eq!(s.clock.quiet_for.load(Relaxed), nanos(QUIET_MAX));
        assert_eq!(
            s.clock.quiet_until.load(Relaxed),
            now - 1 + nanos(QUIET_MAX)
        );
    }

    #[test]
    fn a_spin_that_finds_work_resets_the_cool_down() {
        let s = spinner();
        s.hurt(1);
        s.hurt(2);
        assert!(s.clock.quiet_for.load(Relaxed) > nanos(QUIET_MIN));
        let budget = s.budget_at(2 + nanos(QUIET_MAX));
        assert!(!budget.is_zero());
        s.spin(budget, || true);
        // Found, or Preempted if this test thread lost its core right then.
        let quiet_for = s.clock.quiet_for.load(Relaxed);
        assert!(quiet_for == nanos(QUIET_MIN) || s.clock.quiet_until.load(Relaxed) != 0);
    }

    #[test]
    fn a_spinner_is_counted_on_only_while_its_heartbeat_is_fresh() {
        let s = spinner();
        // Never polled: nobody to count on.
        assert!(!s.counts_on_spinner_at(5));
        // `budget` starts the heartbeat for the thread about to spin.
        assert!(!s.budget_at(1_000 * US).is_zero());
        assert!(s.counts_on_spinner_at(1_000 * US + nanos(STALE_AFTER)));
        // Switched out for longer than that: a push does not count on it.
        assert!(!s.counts_on_spinner_at(1_001 * US + nanos(STALE_AFTER)));
    }

    #[test]
    fn a_real_spin_updates_the_heartbeat() {
        let s = spinner();
        s.spin(Duration::from_micros(5), || false);
        assert_ne!(s.clock.polled_at.load(Relaxed), 0);
    }
}
