//! When spinning for work pays: an adaptive spin budget, and a cheap test for an
//! oversubscribed CPU.
//!
//! An idle thread (a scheduler worker out of tasks, a blocking-pool thread out of
//! jobs) may poll for new work for a few microseconds before it sleeps, because a
//! sleep/wake round trip costs more than that. The poll only pays when work
//! arrives during it, and it costs most when the CPU has more runnable threads than
//! cores: the spinner then takes a core from the very thread it waits for.
//! [`SpinGovernor`] decides how long to spin:
//!
//! * **adaptive**: each spin that found nothing halves the next budget, and after
//!   [`MAX_MISSES`] misses in a row only one idle period in [`PROBE_EVERY`]
//!   spins (a probe, at the full budget: a shorter one could never catch work that
//!   takes the full budget to arrive, so the spin would never come back); a spin that
//!   found work restores the full budget;
//! * **never while preempted**: [`spin_until`] polls without giving its core away
//!   and ends as soon as it notices it lost the core (two polls more than
//!   [`PREEMPTED_GAP`] apart). A spinner that yields or is preempted is still
//!   counted as "coming for the work" by whoever pushes it, so the work waits for
//!   the spinner's next time slice (milliseconds with one busy loop per core)
//!   instead of being handed to a woken thread; such a spin counts as a miss;
//! * **never when oversubscribed**: [`cpu_oversubscribed`] (more runnable threads
//!   in the system than cores, sampled at most every [`SAMPLE_EVERY`]) turns the
//!   spin off whatever the history.
//!
//! ```
//! use corio_core::spin::SpinGovernor;
//! use std::time::Duration;
//!
//! let gov = SpinGovernor::new(Duration::from_micros(16));
//! for _ in 0..10 {
//!     gov.record(false); // nothing came while we spun
//! }
//! assert!(gov.budget_ignoring_load() < Duration::from_micros(16));
//! gov.record(true); // a spin that caught work restores the full budget
//! assert_eq!(gov.budget_ignoring_load(), Duration::from_micros(16));
//! ```

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Misses in a row after which only probes spin (at the full budget).
pub const MAX_MISSES: u32 = 5;
/// After [`MAX_MISSES`] misses, one idle period in this many still spins (a probe),
/// so a workload whose spins start paying again is noticed.
pub const PROBE_EVERY: u32 = 16;
/// How old a [`cpu_oversubscribed`] sample may be before it is read again.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(2);

/// An adaptive spin budget shared by the idle threads of one pool or scheduler.
///
/// Relaxed atomics only: it is a heuristic, and a lost update just spins a little
/// more or less once.
#[derive(Debug)]
pub struct SpinGovernor {
    max_ns: u32,
    /// Spins in a row that found no work (capped at [`MAX_MISSES`]).
    misses: AtomicU32,
    /// Idle periods seen while at the cap (for the 1-in-[`PROBE_EVERY`] probe).
    skipped: AtomicU32,
}

impl SpinGovernor {
    /// A governor whose full budget is `max` (saturating at about 4 s).
    pub fn new(max: Duration) -> SpinGovernor {
        SpinGovernor {
            max_ns: u32::try_from(max.as_nanos()).unwrap_or(u32::MAX),
            misses: AtomicU32::new(0),
            skipped: AtomicU32::new(0),
        }
    }

    /// How long the caller may spin now: zero when the CPU is oversubscribed or
    /// recent spins did not pay (apart from probes).
    pub fn budget(&self) -> Duration {
        if self.max_ns == 0 || cpu_oversubscribed() {
            return Duration::ZERO;
        }
        self.budget_ignoring_load()
    }

    /// [`budget`](Self::budget) without the oversubscription test.
    pub fn budget_ignoring_load(&self) -> Duration {
        let misses = self.misses.load(Relaxed);
        if misses >= MAX_MISSES {
            let n = self.skipped.load(Relaxed).wrapping_add(1);
            self.skipped.store(n, Relaxed);
            if n % PROBE_EVERY != 0 {
                return Duration::ZERO;
            }
        }
        if misses >= MAX_MISSES {
            // A probe.
            return Duration::from_nanos(u64::from(self.max_ns));
        }
        Duration::from_nanos(u64::from(self.max_ns >> misses))
    }

    /// Records the outcome of a spin: `found` if work arrived while spinning.
    pub fn record(&self, found: bool) {
        if found {
            if self.misses.load(Relaxed) != 0 {
                self.misses.store(0, Relaxed);
            }
        } else {
            let m = self.misses.load(Relaxed);
            if m < MAX_MISSES {
                self.misses.store(m + 1, Relaxed);
            }
        }
    }
}

/// Two polls of [`spin_until`] further apart than this mean the spinning thread
/// lost its core (a poll round takes well under a microsecond; a time slice that
/// another thread got is milliseconds, a host preemption of this VM's CPU tens of
/// microseconds or more).
pub const PREEMPTED_GAP: Duration = Duration::from_micros(10);

/// How a [`spin_until`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpinOutcome {
    /// `ready` returned true.
    Found,
    /// The budget ran out.
    Expired,
    /// The spinning thread lost its core for more than [`PREEMPTED_GAP`] (and
    /// perhaps found work after that): the CPU is oversubscribed, and spinning on
    /// would only take time from the thread that makes the work.
    Preempted,
}

/// Polls `ready` until it returns true, for at most `budget`, without yielding the
/// core; ends early with [`SpinOutcome::Preempted`] if this thread is switched out
/// meanwhile (see [`PREEMPTED_GAP`]). Work found right after such a gap also counts
/// as `Preempted`: it arrived while the spinner was off its core and waited for it.
///
/// ```
/// use corio_core::spin::{spin_until, SpinOutcome};
/// use std::time::Duration;
///
/// let mut polls = 0;
/// let outcome = spin_until(Duration::from_secs(1), || {
///     polls += 1;
///     polls == 3
/// });
/// assert_eq!(polls, 3, "it stops at the first `true`");
/// // Found; Preempted if this thread was switched out meanwhile (or under Miri,
/// // whose virtual clock makes every poll look slow).
/// assert!(matches!(outcome, SpinOutcome::Found | SpinOutcome::Preempted));
/// // Nothing arrives: the budget runs out, or on a busy machine the spinner
/// // notices it was switched out.
/// let outcome = spin_until(Duration::from_micros(5), || false);
/// assert_ne!(outcome, SpinOutcome::Found);
/// ```
pub fn spin_until(budget: Duration, ready: impl FnMut() -> bool) -> SpinOutcome {
    spin_until_each_round(budget, ready, |_| {})
}

/// [`spin_until`] that also hands `round` the time of each clock read (every few
/// dozen polls, well under a microsecond apart while the spinner has its core):
/// a heartbeat others can read to tell a running spinner from a switched-out one.
///
/// ```
/// use corio_core::spin::{spin_until_each_round, SpinOutcome};
/// use std::time::{Duration, Instant};
///
/// let mut last_seen = None;
/// let outcome = spin_until_each_round(Duration::from_micros(20), || false, |now: Instant| {
///     last_seen = Some(now);
/// });
/// assert_ne!(outcome, SpinOutcome::Found);
/// assert!(last_seen.is_some());
/// ```
pub fn spin_until_each_round(
    budget: Duration,
    mut ready: impl FnMut() -> bool,
    mut round: impl FnMut(Instant),
) -> SpinOutcome {
    /// Polls between two clock reads: a clock read costs tens of ns, a poll a few.
    const POLLS_PER_CHECK: u32 = 32;
    let start = Instant::now();
    let mut last = start;
    loop {
        for _ in 0..POLLS_PER_CHECK {
            if ready() {
                return if last.elapsed() > PREEMPTED_GAP {
                    SpinOutcome::Preempted
                } else {
                    SpinOutcome::Found
                };
            }
            std::hint::spin_loop();
        }
        let now = Instant::now();
        round(now);
        if now.duration_since(last) > PREEMPTED_GAP {
            return SpinOutcome::Preempted;
        }
        if now.duration_since(start) >= budget {
            return SpinOutcome::Expired;
        }
        last = now;
    }
}

/// True when the system has more runnable threads than this process may use cores
/// (Linux: the running/runnable count of `/proc/loadavg`, sampled at most every
/// [`SAMPLE_EVERY`] by whichever caller finds the sample stale). Elsewhere, under
/// Miri, or when the count cannot be read, false.
///
/// ```
/// // A hint only: true on a busy machine, false on an idle one.
/// let _ = corio_core::spin::cpu_oversubscribed();
/// ```
pub fn cpu_oversubscribed() -> bool {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // Sample time in µs since EPOCH (+1, so 0 means never) and the verdict.
    static SAMPLED_AT: AtomicU64 = AtomicU64::new(0);
    static VERDICT: AtomicU32 = AtomicU32::new(0);
    let epoch = *EPOCH.get_or_init(Instant::now);
    let now = u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX - 1) + 1;
    let at = SAMPLED_AT.load(Relaxed);
    let every = SAMPLE_EVERY.as_micros() as u64;
    if at != 0 && now.saturating_sub(at) < every {
        return VERDICT.load(Relaxed) != 0;
    }
    // One sampler at a time; the others use the previous verdict.
    if SAMPLED_AT
        .compare_exchange(at, now, Relaxed, Relaxed)
        .is_err()
    {
        return VERDICT.load(Relaxed) != 0;
    }
    let verdict = runnable_threads().is_some_and(|r| r > cores());
    VERDICT.store(u32::from(verdict), Relaxed);
    verdict
}

/// Cores this process may run on (cached: it rarely changes).
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Running plus runnable threads in the whole system, the caller included.
// Not under Miri: its isolation refuses to open files (it would stop the program),
// and an unknown count just means "not oversubscribed".
#[cfg(all(target_os = "linux", not(miri)))]
fn runnable_threads() -> Option<usize> {
    use std::os::unix::fs::FileExt;
    // Kept open: one pread per sample instead of open/read/close.
    static LOADAVG: OnceLock<Option<std::fs::File>> = OnceLock::new();
    let file = LOADAVG
        .get_or_init(|| std::fs::File::open("/proc/loadavg").ok())
        .as_ref()?;
    let mut buf = [0u8; 128];
    let n = file.read_at(&mut buf, 0).ok()?;
    parse_runnable(&buf[..n])
}

#[cfg(any(not(target_os = "linux"), miri))]
fn runnable_threads() -> Option<usize> {
    None
}

/// The `R` of `"0.50 0.40 0.30 R/T last_pid"`.
#[cfg_attr(any(not(target_os = "linux"), miri), allow(dead_code))]
fn parse_runnable(text: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(text).ok()?;
    let field = text.split_ascii_whitespace().nth(3)?;
    field.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_runnable_count() {
        assert_eq!(parse_runnable(b"16.44 13.89 14.12 15/246 8199\n"), Some(15));
        assert_eq!(parse_runnable(b"garbage"), None);
    }

    #[test]
    fn misses_shrink_the_budget_then_only_probes_spin() {
        let gov = SpinGovernor::new(Duration::from_micros(32));
        assert_eq!(gov.budget_ignoring_load(), Duration::from_micros(32));
        gov.record(false);
        assert_eq!(gov.budget_ignoring_load(), Duration::from_micros(16));
        for _ in 0..MAX_MISSES {
            gov.record(false);
        }
        let spins = (0..PROBE_EVERY * 4)
            .filter(|_| !gov.budget_ignoring_load().is_zero())
            .count();
        assert_eq!(spins, 4, "one probe per {PROBE_EVERY} idle periods");
        let probe = (0..PROBE_EVERY)
            .map(|_| gov.budget_ignoring_load())
            .max()
            .unwrap();
        assert_eq!(
            probe,
            Duration::from_micros(32),
            "a probe spins the full budget"
        );
        gov.record(true);
        assert_eq!(gov.budget_ignoring_load(), Duration::from_micros(32));
    }

    #[test]
    fn work_found_after_losing_the_core_counts_as_preempted() {
        // The work "arrives" while the spinner is off its core (the sleep).
        let mut polls = 0;
        let outcome = spin_until(Duration::from_secs(10), || {
            polls += 1;
            if polls == 2 {
                std::thread::sleep(Duration::from_millis(1));
            }
            polls == 2
        });
        assert_eq!(outcome, SpinOutcome::Preempted);
    }

    #[test]
    fn a_spin_that_loses_its_core_ends_as_preempted() {
        // The second poll stands in for a time slice given to another thread.
        let mut polls = 0;
        let outcome = spin_until(Duration::from_secs(10), || {
            polls += 1;
            if polls == 2 {
                std::thread::sleep(Duration::from_millis(1));
            }
            false
        });
        assert_eq!(outcome, SpinOutcome::Preempted);
    }

    #[cfg(target_os = "linux")]
    #[test]
    #[cfg_attr(miri, ignore = "reads /proc/loadavg, which Miri's isolation refuses")]
    fn reads_the_system_runnable_count() {
        // This thread is running, so at least one.
        assert!(runnable_threads().is_some_and(|r| r >= 1));
    }
}
