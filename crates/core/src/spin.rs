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
//! * **short when oversubscribed**: while [`cpu_oversubscribed`] (this thread spent
//!   more than a quarter of the last [`SAMPLE_EVERY`] or more waiting for a CPU while
//!   runnable, by the kernel's own count), [`SpinGovernor::budget`] caps the spin at
//!   the caller's limit whatever the history.
//!   The evidence is the calling thread's, not the system's load: a build that keeps
//!   the load average high on a machine with a core free does not switch spinning
//!   off, and busy threads that take this thread's core do, at once.
//!
//! ```
//! use corio_core::spin::SpinGovernor;
//! use std::time::Duration;
//!
//! let gov = SpinGovernor::new(Duration::from_micros(16));
//! for _ in 0..10 {
//!     gov.record(false); // nothing came while we spun
//! }
//! assert!(gov.budget_from_history() < Duration::from_micros(16));
//! gov.record(true); // a spin that caught work restores the full budget
//! assert_eq!(gov.budget_from_history(), Duration::from_micros(16));
//! ```

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Misses in a row after which only probes spin (at the full budget).
pub const MAX_MISSES: u32 = 5;
/// After [`MAX_MISSES`] misses, one idle period in this many still spins (a probe),
/// so a workload whose spins start paying again is noticed.
pub const PROBE_EVERY: u32 = 16;
/// How old a thread's [`cpu_oversubscribed`] sample may be before it is read again:
/// the shortest window its verdict is drawn from.
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

    /// How long the calling thread may spin now: the budget its recent spins earned
    /// ([`budget_from_history`](Self::budget_from_history)), at most
    /// `when_oversubscribed` while its CPU is oversubscribed ([`cpu_oversubscribed`]).
    ///
    /// ```
    /// use corio_core::spin::SpinGovernor;
    /// use std::time::Duration;
    ///
    /// let gov = SpinGovernor::new(Duration::from_micros(20));
    /// let budget = gov.budget(Duration::from_micros(4));
    /// // 20 us on an idle machine, 4 us while busy threads hold this thread's core.
    /// assert!(budget == Duration::from_micros(20) || budget == Duration::from_micros(4));
    /// ```
    pub fn budget(&self, when_oversubscribed: Duration) -> Duration {
        let budget = self.budget_from_history();
        if budget > when_oversubscribed && cpu_oversubscribed() {
            return when_oversubscribed;
        }
        budget
    }

    /// [`budget`](Self::budget) from the recent spins alone, without the
    /// oversubscription test.
    pub fn budget_from_history(&self) -> Duration {
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

/// True when the calling thread recently spent more than a quarter of its time
/// waiting for a CPU while runnable: other threads (busy loops, builds, or this
/// process's own) hold the cores, so a spin would take a core from someone who
/// needs it and lose it again at once. Linux's per-thread scheduler statistics
/// (`/proc/thread-self/schedstat`, the run-queue wait) are read at most every
/// [`SAMPLE_EVERY`] per thread, by a kept-open file (one `pread`); between samples
/// the previous verdict stands. Elsewhere, under Miri and loom, or when the
/// statistics cannot be read: false.
///
/// ```
/// // A hint only: true while busy threads hold this thread's core.
/// let _ = corio_core::spin::cpu_oversubscribed();
/// ```
pub fn cpu_oversubscribed() -> bool {
    #[cfg(all(target_os = "linux", not(miri), not(loom)))]
    {
        run_delay::THIS_THREAD
            .try_with(|probe| probe.borrow_mut().oversubscribed(Instant::now()))
            .unwrap_or(false)
    }
    #[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
    {
        false
    }
}

/// Jobs handed to blocking threads of this process and not finished yet (see
/// [`OffloadedJob`]).
static OFFLOADED_JOBS: AtomicUsize = AtomicUsize::new(0);

/// Marks one job handed to a blocking thread, from submission until the job's closure
/// has run or been dropped unrun: [`offloaded_jobs`] counts the marks alive.
///
/// What it is for: a scheduler worker spinning for work yields its core between
/// rounds only while exactly one blocking job is pending, because the thread that
/// will finish it, and wake the task the worker waits for, may need that very core.
/// Otherwise the work it waits for comes from threads on other cores or from the
/// kernel, and on an oversubscribed CPU a yield hands a busy thread the rest of a
/// time slice.
///
/// ```
/// use corio_core::spin::{offloaded_jobs, OffloadedJob};
///
/// let job = OffloadedJob::start();
/// assert!(offloaded_jobs() >= 1);
/// drop(job);
/// ```
#[derive(Debug)]
pub struct OffloadedJob(());

impl OffloadedJob {
    /// Counts one pending job until the returned mark is dropped.
    pub fn start() -> OffloadedJob {
        OFFLOADED_JOBS.fetch_add(1, Relaxed);
        OffloadedJob(())
    }
}

impl Drop for OffloadedJob {
    fn drop(&mut self) {
        OFFLOADED_JOBS.fetch_sub(1, Relaxed);
    }
}

/// How many jobs handed to blocking threads of this process are still pending
/// ([`OffloadedJob`]s alive). A hint: relaxed, and stale by the time it is used.
pub fn offloaded_jobs() -> usize {
    OFFLOADED_JOBS.load(Relaxed)
}

/// Whether a thread that waited `waited` for a CPU over a window of `window` was
/// kept off its core: more than a quarter of the window. (Waking from a sleep
/// counts as waiting until the thread runs, a few microseconds per wake-up on an
/// idle machine, far below that.)
#[cfg_attr(not(all(target_os = "linux", not(miri), not(loom))), allow(dead_code))]
fn kept_off_the_cpu(waited: Duration, window: Duration) -> bool {
    waited * 4 > window
}

#[cfg(all(target_os = "linux", not(miri), not(loom)))]
mod run_delay {
    //! The per-thread sampler behind [`cpu_oversubscribed`](super::cpu_oversubscribed).

    use std::cell::RefCell;
    use std::fs::File;
    use std::os::unix::fs::FileExt;
    use std::time::{Duration, Instant};

    use super::{kept_off_the_cpu, SAMPLE_EVERY};

    std::thread_local! {
        pub(super) static THIS_THREAD: RefCell<RunDelay> = const { RefCell::new(RunDelay::new()) };
    }

    /// One thread's run-queue wait at its last sample, and the verdict drawn then.
    pub(super) struct RunDelay {
        /// `/proc/thread-self/schedstat`, opened by the owning thread (so it names
        /// that thread) on first use; `Err(())` once it could not be opened or read.
        file: Option<Result<File, ()>>,
        sampled_at: Option<Instant>,
        waited_ns: u64,
        verdict: bool,
    }

    impl RunDelay {
        const fn new() -> RunDelay {
            RunDelay {
                file: None,
                sampled_at: None,
                waited_ns: 0,
                verdict: false,
            }
        }

        pub(super) fn oversubscribed(&mut self, now: Instant) -> bool {
            let window = match self.sampled_at {
                Some(at) => now.saturating_duration_since(at),
                None => Duration::MAX,
            };
            if window < SAMPLE_EVERY {
                return self.verdict;
            }
            let Some(waited_ns) = self.read_waited_ns() else {
                return false;
            };
            if self.sampled_at.is_some() {
                let waited = Duration::from_nanos(waited_ns.saturating_sub(self.waited_ns));
                self.verdict = kept_off_the_cpu(waited, window);
            }
            self.sampled_at = Some(now);
            self.waited_ns = waited_ns;
            self.verdict
        }

        /// Nanoseconds this thread has spent runnable but waiting for a CPU: the
        /// second field of `"<on-cpu ns> <waiting ns> <time slices>"`.
        fn read_waited_ns(&mut self) -> Option<u64> {
            let file = self
                .file
                .get_or_insert_with(|| File::open("/proc/thread-self/schedstat").map_err(drop))
                .as_ref()
                .ok()?;
            let mut buf = [0u8; 96];
            let parsed = file
                .read_at(&mut buf, 0)
                .ok()
                .and_then(|n| super::parse_waited_ns(&buf[..n]));
            if parsed.is_none() {
                self.file = Some(Err(()));
            }
            parsed
        }
    }
}

/// The run-queue wait (second field) of a schedstat line.
#[cfg_attr(not(all(target_os = "linux", not(miri), not(loom))), allow(dead_code))]
fn parse_waited_ns(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_run_queue_wait() {
        assert_eq!(parse_waited_ns(b"73177 50298 2\n"), Some(50298));
        assert_eq!(parse_waited_ns(b"garbage"), None);
    }

    #[test]
    fn a_quarter_of_the_window_spent_waiting_means_oversubscribed() {
        let window = Duration::from_millis(4);
        assert!(!kept_off_the_cpu(Duration::from_micros(40), window));
        assert!(!kept_off_the_cpu(Duration::from_millis(1), window));
        assert!(kept_off_the_cpu(Duration::from_micros(1_100), window));
    }

    #[test]
    fn misses_shrink_the_budget_then_only_probes_spin() {
        let gov = SpinGovernor::new(Duration::from_micros(32));
        assert_eq!(gov.budget_from_history(), Duration::from_micros(32));
        gov.record(false);
        assert_eq!(gov.budget_from_history(), Duration::from_micros(16));
        for _ in 0..MAX_MISSES {
            gov.record(false);
        }
        let spins = (0..PROBE_EVERY * 4)
            .filter(|_| !gov.budget_from_history().is_zero())
            .count();
        assert_eq!(spins, 4, "one probe per {PROBE_EVERY} idle periods");
        let probe = (0..PROBE_EVERY)
            .map(|_| gov.budget_from_history())
            .max()
            .unwrap();
        assert_eq!(
            probe,
            Duration::from_micros(32),
            "a probe spins the full budget"
        );
        gov.record(true);
        assert_eq!(gov.budget_from_history(), Duration::from_micros(32));
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
    #[cfg_attr(miri, ignore = "reads /proc, which Miri's isolation refuses")]
    fn a_thread_that_shares_its_core_with_busy_threads_is_oversubscribed() {
        // Pin this thread and two busy loops to one CPU: the kernel then runs this
        // thread about a third of the time, the rest it waits, runnable.
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
        let mut one_cpu: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU 0 is inside the set's bit array (CPU_SETSIZE is 1024).
        unsafe { libc::CPU_SET(0, &mut one_cpu) };
        let pin = || {
            // SAFETY: pid 0 is the calling thread; the set outlives the call.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&one_cpu), &one_cpu) == 0 }
        };
        if !pin() {
            return; // not allowed to pin here: nothing to observe
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hogs: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    // SAFETY: as above, for the hog's own thread.
                    unsafe {
                        libc::sched_setaffinity(0, std::mem::size_of_val(&one_cpu), &one_cpu)
                    };
                    while !stop.load(Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        // Busy for well over two sample windows, asking as a spinner would.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = false;
        while Instant::now() < deadline && !seen {
            seen = cpu_oversubscribed();
        }
        stop.store(true, Relaxed);
        for hog in hogs {
            hog.join().expect("a busy loop thread panicked");
        }
        assert!(
            seen,
            "three busy threads on one CPU, and the verdict never said so"
        );
    }
}
