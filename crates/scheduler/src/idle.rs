//! The idle protocol: who is searching, who is parked, and whom to wake.
//!
//! Waking a parked thread costs about 13 µs on the target machines, 50 times a task
//! spawn, so the scheduler wakes a worker only when nobody else can pick the work up.
//! The protocol follows tokio's `idle.rs`.
//!
//! # State
//!
//! One `AtomicUsize`, [`Idle::state`], packs two counters so that both are read in one
//! access:
//! - `searching` (low 16 bits): workers currently looking for work to steal;
//! - `unparked` (the rest): workers not in the sleepers list (running, searching, or
//!   about to park).
//!
//! The sleepers list (a `Mutex<Vec<usize>>`) holds the indices of parked workers;
//! `parked[i]` mirrors "worker `i` is in the list" for lock-free reads. Every change to
//! the list also changes `unparked` under the same lock, so `unparked` equals
//! `workers - sleepers.len()` whenever the lock is free.
//!
//! # Protocol
//!
//! 1. **Push then notify.** Whoever makes work available (spawn, wake, a batch steal
//!    that left more behind) first pushes it, then calls [`Idle::worker_to_notify`]. That
//!    issues a `SeqCst` fence and reads the state: if a worker is searching, it will find
//!    the work (rule 4), so nobody is woken; if every worker is unparked, nobody can be
//!    woken. Otherwise it re-checks under the sleepers lock, pops one sleeper, counts it
//!    as unparked *and searching*, clears its `parked` flag, and the caller unparks it.
//!    A *running worker* that pushed to its own queue or LIFO slot skips the fence
//!    ([`Idle::worker_to_notify_local`]): the task cannot be lost (its pusher is awake and
//!    will run it), so the race only costs parallelism, and the fence is the most
//!    expensive instruction of the yield path. Remote pushes (the injector) always fence.
//! 2. **Throttle.** A worker out of local work may start searching only while fewer than
//!    half of the workers search ([`Idle::transition_worker_to_searching`]); otherwise it
//!    goes to park directly. This keeps idle workers from burning the CPU that busy ones need.
//! 3. **Found work.** A searcher that found work leaves the searching state; if it was the
//!    last searcher ([`Idle::transition_worker_from_searching`] returns `true`), it issues
//!    a `SeqCst` fence, looks at every queue, and notifies (rule 1) if any still holds
//!    work, so that the rest of what it saw gets a searcher. With nothing left it wakes
//!    nobody: the fence pairs with rule 1's, so a task pushed meanwhile was either seen
//!    here or its pusher saw no searcher and notified itself.
//! 4. **Park.** A worker about to park takes the sleepers lock, decrements `unparked`
//!    (and `searching` if it was searching), pushes itself, sets `parked`, then issues a
//!    `SeqCst` fence. If it was the last searcher, it re-checks every queue and notifies if
//!    any is non-empty (this may pick itself, which just cancels its park). Rule 1's fence
//!    and this one form a Dekker pair: either the pusher sees the decremented counters and
//!    wakes someone, or the last searcher sees the pushed task. Hence: **no lost wake-up**
//!    (modelled in `tests/loom.rs`).
//! 5. **Wake.** A parked worker that wakes up checks `parked`: still set means a spurious
//!    wake-up (or a park hook event), and it parks again unless it has local work, in which
//!    case it removes itself from the list ([`Idle::unpark_worker_by_id`]) and runs it
//!    (not counted as searching). Cleared means it was notified and is now a searcher.

use crossbeam_utils::CachePadded;

use crate::sync::{
    fence, lock, AtomicBool, AtomicUsize, Mutex, Ordering::Relaxed, Ordering::SeqCst,
};

/// Bits of [`Idle::state`] that count searching workers.
const SEARCH_MASK: usize = (1 << UNPARK_SHIFT) - 1;
/// `unparked` lives above the searching counter (16 bits: up to 65,535 workers).
const UNPARK_SHIFT: usize = 16;
/// One unparked worker, in state units.
const UNPARK_ONE: usize = 1 << UNPARK_SHIFT;

fn searching(state: usize) -> usize {
    state & SEARCH_MASK
}

fn unparked(state: usize) -> usize {
    state >> UNPARK_SHIFT
}

/// The shared idle-worker bookkeeping (see the module docs for the protocol).
pub(crate) struct Idle {
    /// `searching | unparked << UNPARK_SHIFT`. Padded: written on every search and
    /// park transition, read on every notify.
    state: CachePadded<AtomicUsize>,
    /// Indices of parked workers.
    sleepers: Mutex<Vec<usize>>,
    /// `parked[i]`: worker `i` is in `sleepers` (written under the lock).
    parked: Box<[AtomicBool]>,
    /// All worker slots (base and extra): `unparked` counts them all.
    num_workers: usize,
    /// Base workers: the searching throttle (rule 2) is relative to them.
    num_base: usize,
}

impl Idle {
    /// All `num_workers` workers start unparked and not searching.
    #[cfg(any(test, loom))]
    pub(crate) fn new(num_workers: usize) -> Idle {
        Idle::with_spares(num_workers, num_workers)
    }

    /// `base` workers plus `slots - base` slots for extra workers (stall monitor). A slot
    /// with no thread counts as unparked and not searching, like a busy worker that never
    /// parks: it is never in the sleepers list, so nobody tries to wake it, and an extra
    /// worker that starts or retires does not change the counters.
    pub(crate) fn with_spares(base: usize, slots: usize) -> Idle {
        assert!(slots <= SEARCH_MASK, "at most {SEARCH_MASK} workers");
        Idle {
            state: CachePadded::new(AtomicUsize::new(slots << UNPARK_SHIFT)),
            sleepers: Mutex::new(Vec::with_capacity(slots)),
            parked: (0..slots).map(|_| AtomicBool::new(false)).collect(),
            num_workers: slots,
            num_base: base,
        }
    }

    /// Rule 1: after pushing work, pick a parked worker to wake, if one is needed.
    /// The returned worker is already counted as unparked and searching: the caller
    /// must unpark it.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.notify_should_wakeup() {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        if !self.notify_should_wakeup() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add(UNPARK_ONE | 1, SeqCst);
        self.parked[worker].store(false, SeqCst);
        Some(worker)
    }

    fn notify_should_wakeup(&self) -> bool {
        // Pairs with the fence in `transition_worker_to_parked` (rule 4).
        fence(SeqCst);
        let state = self.state.load(SeqCst);
        searching(state) == 0 && unparked(state) < self.num_workers
    }

    /// Rule 1 for a *running worker* that pushed to its own queue or LIFO slot: the
    /// same, without the fence (a `SeqCst` fence per wake-up is the single most
    /// expensive instruction of the yield path). Losing the Dekker race here loses no
    /// task: the pusher is awake and will run it itself; at worst another worker is
    /// not woken to share the work until the next notification.
    ///
    /// Inlined up to the first check, which is all a busy runtime runs: out of line,
    /// the call's register saves cost more than the check (a third of the
    /// instructions of a one-worker spawn's notification without a stall monitor).
    #[inline]
    pub(crate) fn worker_to_notify_local(&self) -> Option<usize> {
        let state = self.state.load(Relaxed);
        if searching(state) != 0 || unparked(state) >= self.num_workers {
            return None;
        }
        self.pop_sleeper_local()
    }

    /// The locked part of [`worker_to_notify_local`](Self::worker_to_notify_local).
    #[inline(never)]
    fn pop_sleeper_local(&self) -> Option<usize> {
        let mut sleepers = lock(&self.sleepers);
        let state = self.state.load(SeqCst);
        if searching(state) != 0 || unparked(state) >= self.num_workers {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add(UNPARK_ONE | 1, SeqCst);
        self.parked[worker].store(false, SeqCst);
        Some(worker)
    }

    /// Rule 2: may this worker start searching? On `true` it is counted as searching.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let mut state = self.state.load(SeqCst);
        loop {
            // `2 * searching < workers`: at most half (rounded up) search at once. A CAS
            // loop keeps the cap exact under races (workers become idle far less often
            // than tasks run, so this is off the hot path).
            if 2 * searching(state) >= self.num_base {
                return false;
            }
            match self
                .state
                .compare_exchange(state, state + 1, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Rule 3: a searcher found work. Returns `true` if it was the last searcher: the
    /// caller must then look at every queue and notify another worker if any holds
    /// work. The `SeqCst` fence before that look (issued here) pairs with the one in
    /// `notify_should_wakeup`.
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(searching(prev) > 0);
        let last = searching(prev) == 1;
        if last {
            fence(SeqCst);
        }
        last
    }

    /// Rule 4: this worker goes to sleep. Returns `true` if it was the last searcher:
    /// the caller must then re-check all queues and notify if any holds work.
    pub(crate) fn transition_worker_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let is_last_searcher = {
            let mut sleepers = lock(&self.sleepers);
            let dec = UNPARK_ONE | usize::from(is_searching);
            let prev = self.state.fetch_sub(dec, SeqCst);
            debug_assert!(unparked(prev) > 0);
            sleepers.push(worker);
            self.parked[worker].store(true, SeqCst);
            is_searching && searching(prev) == 1
        };
        // Pairs with the fence in `notify_should_wakeup`.
        fence(SeqCst);
        is_last_searcher
    }

    /// Rule 5: a parked worker found local work (e.g. a park hook event scheduled a task
    /// on it). Returns `true` if it removed itself from the sleepers (it is now unparked
    /// and not searching); `false` if a notifier had already taken it (it is then
    /// counted as searching).
    pub(crate) fn unpark_worker_by_id(&self, worker: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().position(|&w| w == worker) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARK_ONE, SeqCst);
                self.parked[worker].store(false, SeqCst);
                true
            }
            None => false,
        }
    }

    /// Is `worker` in the sleepers list? (`SeqCst`: part of the park-hook Dekker pair.)
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.parked[worker].load(SeqCst)
    }

    /// Number of workers currently searching (for tests and the loom models).
    #[cfg(any(test, loom))]
    pub(crate) fn num_searching(&self) -> usize {
        searching(self.state.load(SeqCst))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn throttle_allows_about_half() {
        let idle = Idle::new(4);
        assert!(idle.transition_worker_to_searching());
        assert!(idle.transition_worker_to_searching());
        assert!(
            !idle.transition_worker_to_searching(),
            "2 of 4 searching is the cap"
        );
        assert!(!idle.transition_worker_from_searching());
        assert!(
            idle.transition_worker_from_searching(),
            "the last searcher is told so"
        );
    }

    #[test]
    fn notify_wakes_only_when_nobody_searches() {
        let idle = Idle::new(2);
        assert_eq!(idle.worker_to_notify(), None, "everyone is unparked");
        assert!(!idle.transition_worker_to_parked(1, false));
        assert!(idle.transition_worker_to_searching());
        assert_eq!(
            idle.worker_to_notify(),
            None,
            "worker 0 searches: it will find the work"
        );
        assert!(idle.transition_worker_from_searching());
        assert_eq!(idle.worker_to_notify(), Some(1));
        assert!(!idle.is_parked(1));
        assert_eq!(
            idle.num_searching(),
            1,
            "a notified worker starts as a searcher"
        );
    }

    #[test]
    fn unpark_by_id_only_when_still_listed() {
        let idle = Idle::new(1);
        assert!(!idle.transition_worker_to_parked(0, false));
        assert!(idle.is_parked(0));
        assert!(idle.unpark_worker_by_id(0));
        assert!(!idle.unpark_worker_by_id(0));
        assert_eq!(idle.worker_to_notify(), None);
    }
}
