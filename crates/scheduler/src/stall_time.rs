//! How much of a long poll counts as a stall.
//!
//! While a worker is inside one poll, the wall-clock time passing is made of time its
//! thread ran, time it was blocked (in a system call: `std::thread::sleep`, a slow
//! read) and time it was runnable but waited for a CPU. The first two are a stall: the
//! worker can do nothing else. The third is not: on an oversubscribed machine a worker
//! preempted in a short poll runs its next task as soon as it gets a core, and an extra
//! worker would only oversubscribe the CPU further.
//!
//! Only the interval the monitor measured counts, from its second look at the poll (a
//! poll may have begun, and its thread waited for a core, long before: the monitor
//! thread is descheduled too). The thread's `schedstat` ([`SchedStat`]) gives, since
//! then, its run time and its finished waits for a CPU, so
//!
//! - `ran` is stall time whatever the thread does now;
//! - `accounted = wall - finished waits` = ran + blocked + a wait still in progress
//!   (the kernel adds a wait to `queued_ns` only when it ends) + time the thread was
//!   on a CPU but the CPU was not its own: taken by the hypervisor ("steal": under
//!   paravirtual time accounting the kernel leaves it out of run time) or by
//!   interrupts. It is stall time only if the thread is blocked now, which the monitor
//!   checks (the thread's state) only when that decides. A poll seen running is
//!   judged by its run time alone: a vCPU taken away in the middle of a short poll,
//!   for longer than the threshold, is not a stall either.
//!
//! Without `schedstat` (not Linux) every bit of wall-clock time counts.

use std::time::{Duration, Instant};

use crate::thread_stats::{SchedStat, ThreadStats};

/// The monitor's measurement of one poll of one worker.
pub(crate) struct PollClock {
    /// The monitor's look that started the measurement.
    start: Instant,
    base: Option<SchedStat>,
}

/// Stall time of a poll so far, by what is known about its thread now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StallTime {
    /// Whatever the thread does now: its run time.
    pub(crate) certain: Duration,
    /// If the thread is blocked now.
    pub(crate) if_blocked: Duration,
}

impl PollClock {
    /// Starts measuring a poll of thread `tid` (at the monitor's second look at it).
    pub(crate) fn start(stats: &mut ThreadStats, tid: u64) -> PollClock {
        // Read, then take the time: a wait that ends after the read but before `now`
        // is then not subtracted later (it lies before the start).
        let sample = stats.schedstat(tid);
        PollClock::from_sample(Instant::now(), sample)
    }

    fn from_sample(at: Instant, sample: Option<SchedStat>) -> PollClock {
        PollClock {
            start: at,
            base: sample,
        }
    }

    /// Is the poll of thread `tid` a stall (at least `threshold` of stall time)?
    pub(crate) fn is_stall(&self, stats: &mut ThreadStats, tid: u64, threshold: Duration) -> bool {
        // Take the time, then read: waits that end in between are subtracted, never
        // counted.
        let time = self.observe(Instant::now(), stats.schedstat(tid));
        if time.certain >= threshold {
            return true;
        }
        if time.if_blocked < threshold {
            return false;
        }
        // Blocked in a system call, or waiting for (or robbed of) a CPU? Ask, then read
        // again: a wait that began after the thread was seen blocked is a few
        // microseconds long.
        if stats.is_blocked(tid) != Some(true) {
            return false;
        }
        let time = self.observe(Instant::now(), stats.schedstat(tid));
        time.if_blocked >= threshold
    }

    /// The stall time by a sample read at `at`.
    fn observe(&self, at: Instant, sample: Option<SchedStat>) -> StallTime {
        let wall = at.saturating_duration_since(self.start);
        let (Some(base), Some(now)) = (self.base, sample) else {
            return StallTime {
                certain: wall,
                if_blocked: wall,
            };
        };
        let ran = Duration::from_nanos(now.ran_ns.saturating_sub(base.ran_ns));
        let waited = Duration::from_nanos(now.queued_ns.saturating_sub(base.queued_ns));
        StallTime {
            certain: ran,
            if_blocked: wall.saturating_sub(waited),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn stat(ran_ms: u64, queued_ms: u64, arrivals: u64) -> Option<SchedStat> {
        Some(SchedStat {
            ran_ns: ran_ms * MS,
            queued_ns: queued_ms * MS,
            arrivals,
        })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A thread preempted right after the first look and still waiting for a CPU: its
    /// kernel counters have not moved, so nothing is certain.
    #[test]
    fn a_wait_in_progress_is_not_certain() {
        let t0 = Instant::now();
        let clock = PollClock::from_sample(t0, stat(5, 7, 3));
        let time = clock.observe(t0 + ms(50), stat(5, 7, 3));
        assert_eq!(time.certain, Duration::ZERO);
        // Blocked (no wait in progress) it would be 50 ms.
        assert_eq!(time.if_blocked, ms(50));
    }

    /// Once the wait ends the kernel adds it: gone from both figures.
    #[test]
    fn a_finished_wait_does_not_count() {
        let t0 = Instant::now();
        let clock = PollClock::from_sample(t0, stat(5, 7, 3));
        // Got a CPU after a 40 ms wait, ran 1 ms.
        let time = clock.observe(t0 + ms(41), stat(6, 47, 4));
        assert_eq!(time.if_blocked, ms(1));
        assert_eq!(time.certain, ms(1));
    }

    /// A spinning thread's run time is certain, however often it waits for a CPU.
    #[test]
    fn run_time_is_certain() {
        let t0 = Instant::now();
        let clock = PollClock::from_sample(t0, stat(0, 0, 1));
        // 25 ms: 20 ms on a CPU, 5 ms waiting (finished).
        let time = clock.observe(t0 + ms(25), stat(20, 5, 11));
        assert_eq!(time.certain, ms(20));
    }

    /// A thread on a CPU the hypervisor took away for 12 ms, in a short poll: no run
    /// time, no wait and no arrival on a CPU to show for it. Only blocked would it count.
    #[test]
    fn a_stolen_cpu_is_not_certain() {
        let t0 = Instant::now();
        let clock = PollClock::from_sample(t0, stat(3, 1, 9));
        let time = clock.observe(t0 + ms(13), stat(4, 1, 9));
        assert_eq!(time.certain, ms(1));
        assert_eq!(time.if_blocked, ms(13));
    }

    /// Blocked 20 ms, then woken and run 1 ms: once it runs again, only a look that
    /// finds it blocked counts the blocked time.
    #[test]
    fn blocked_time_counts_only_while_blocked() {
        let t0 = Instant::now();
        let clock = PollClock::from_sample(t0, stat(0, 0, 1));
        let blocked = clock.observe(t0 + ms(20), stat(0, 0, 1));
        assert_eq!(blocked.if_blocked, ms(20));
        let running = clock.observe(t0 + ms(22), stat(1, 1, 2));
        assert_eq!(running.certain, ms(1));
    }

    /// Without `schedstat` every bit of wall-clock time counts.
    #[test]
    fn without_schedstat_wall_clock_counts() {
        let t0 = Instant::now();
        let clock = PollClock::from_sample(t0, None);
        let time = clock.observe(t0 + ms(12), None);
        assert_eq!(time.certain, ms(12));
        assert_eq!(time.if_blocked, ms(12));
    }
}
