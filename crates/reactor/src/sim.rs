//! Virtual time and leak detection for deterministic simulation (feature `sim`).
//!
//! A simulator (corio's `corio::sim`) installs a [`VirtualClock`] on its thread
//! with [`enter`]. While it is installed, this crate's timers ([`sleep`],
//! [`sleep_until`], [`Interval`], [`timeout`]) and [`now`] use the virtual clock
//! instead of `std::time::Instant::now` and the reactor's timer wheel: nothing
//! waits for real, and the simulator decides when time moves
//! ([`VirtualClock::advance_to`] its [`next_deadline`](VirtualClock::next_deadline)
//! when every task is idle, as Trio's `MockClock(autojump_threshold=0)`).
//!
//! Virtual instants start at an epoch ten years after the real clock's "now"
//! when the clock is made, so an `Instant` read from the real clock is told
//! apart from a virtual one: a timer given a real `Instant` (a leak of
//! non-determinism into the simulation) is recorded as a leak
//! ([`VirtualClock::take_leak`]), as is a real socket registered with the
//! reactor.
//!
//! With no clock installed (and with the feature off) everything here is the
//! real clock; the cost when the feature is on but no simulation runs is one
//! thread-local read per timer creation and first poll.
//!
//! ```
//! use corio_reactor::sim::{self, VirtualClock};
//! use corio_reactor::timer::{now, sleep};
//! use std::future::Future;
//! use std::rc::Rc;
//! use std::task::Context;
//! use std::time::Duration;
//!
//! let clock = Rc::new(VirtualClock::new());
//! let _entered = sim::enter(clock.clone());
//! let start = now();
//! let mut nap = Box::pin(sleep(Duration::from_secs(3600)));
//! let waker = futures::task::noop_waker();
//! let mut cx = Context::from_waker(&waker);
//! assert!(nap.as_mut().poll(&mut cx).is_pending());
//! // Nothing else to do: jump to the next timer.
//! let due = clock.next_deadline().unwrap();
//! for waker in clock.advance_to(due) {
//!     waker.wake();
//! }
//! assert!(nap.as_mut().poll(&mut cx).is_ready());
//! assert_eq!(now() - start, Duration::from_secs(3600));
//! ```
//!
//! [`sleep`]: crate::timer::sleep
//! [`sleep_until`]: crate::timer::sleep_until
//! [`Interval`]: crate::timer::Interval
//! [`timeout`]: crate::timer::timeout
//! [`now`]: crate::timer::now

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// How far after the real clock virtual time starts: far enough that no real
/// `Instant` of this process (which started before the clock was made and will
/// not run for a decade) is mistaken for a virtual one.
const EPOCH_OFFSET: Duration = Duration::from_secs(10 * 365 * 86_400);

/// A deadline this far before the epoch or earlier came from the real clock:
/// virtual code may subtract from virtual instants ("a second ago"), but not by
/// a year.
const REAL_INSTANT_MARGIN: Duration = Duration::from_secs(365 * 86_400);

thread_local! {
    static CURRENT: RefCell<Option<Rc<VirtualClock>>> = const { RefCell::new(None) };
    /// Whether `CURRENT` holds a clock: read first by every timer, because a
    /// `Cell<bool>` needs no destructor, so its thread-local access is a plain
    /// load, where `CURRENT`'s (an `Rc`) checks its destructor registration.
    static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// A simulated clock with its own timers, installed on one thread with
/// [`enter`]. Not `Send`: a simulation runs on one thread.
pub struct VirtualClock {
    /// Tells the timers of different clocks apart (a `Sleep` outliving its
    /// simulation must not touch the next one's timers).
    id: u64,
    epoch: Instant,
    state: RefCell<Timers>,
    deny_real_io: Cell<bool>,
    leak: RefCell<Option<String>>,
}

struct Timers {
    now: Instant,
    entries: slab::Slab<Entry>,
    /// (deadline, sequence, key): the earliest first; an item whose sequence no
    /// longer matches its entry's (reset or removed since) is skipped.
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    next_seq: u64,
}

struct Entry {
    seq: u64,
    waker: Option<Waker>,
    fired: bool,
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualClock")
            .field("elapsed", &self.elapsed())
            .field("pending_timers", &self.pending_timers())
            .finish()
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualClock {
    /// A clock at its epoch with no timers. Real sockets are refused while it
    /// is installed (see [`deny_real_io`](Self::deny_real_io)).
    pub fn new() -> VirtualClock {
        static IDS: AtomicU64 = AtomicU64::new(1);
        let real = Instant::now();
        let epoch = real.checked_add(EPOCH_OFFSET).unwrap_or(real);
        VirtualClock {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            epoch,
            state: RefCell::new(Timers {
                now: epoch,
                entries: slab::Slab::new(),
                heap: BinaryHeap::new(),
                next_seq: 0,
            }),
            deny_real_io: Cell::new(true),
            leak: RefCell::new(None),
        }
    }

    /// Whether registering a real file descriptor with the reactor (a real
    /// socket) is refused and recorded as a leak while this clock is
    /// installed (default true).
    pub fn deny_real_io(&self, deny: bool) {
        self.deny_real_io.set(deny);
    }

    /// The virtual time now.
    pub fn now(&self) -> Instant {
        self.state.borrow().now
    }

    /// The instant virtual time started at.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Virtual time elapsed since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.now() - self.epoch
    }

    /// Timers registered and not yet fired or dropped.
    pub fn pending_timers(&self) -> usize {
        let st = self.state.borrow();
        st.entries.iter().filter(|(_, e)| !e.fired).count()
    }

    /// The earliest deadline of a pending timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut st = self.state.borrow_mut();
        while let Some(&Reverse((when, seq, key))) = st.heap.peek() {
            if st
                .entries
                .get(key)
                .is_some_and(|e| e.seq == seq && !e.fired)
            {
                return Some(when);
            }
            st.heap.pop();
        }
        None
    }

    /// Moves virtual time to `to` (never backwards) and returns the wakers of
    /// the timers now due, earliest deadline first (equal deadlines in the
    /// order they were armed). The caller wakes them.
    pub fn advance_to(&self, to: Instant) -> Vec<Waker> {
        let mut st = self.state.borrow_mut();
        if to > st.now {
            st.now = to;
        }
        let now = st.now;
        let mut due = Vec::new();
        while let Some(&Reverse((when, seq, key))) = st.heap.peek() {
            if when > now {
                break;
            }
            st.heap.pop();
            if let Some(e) = st.entries.get_mut(key) {
                if e.seq == seq && !e.fired {
                    e.fired = true;
                    due.extend(e.waker.take());
                }
            }
        }
        due
    }

    /// The first leak of non-determinism recorded since the last call (a real
    /// `Instant` given to a timer, a real socket), as a message.
    pub fn take_leak(&self) -> Option<String> {
        self.leak.borrow_mut().take()
    }

    /// Records a leak (the first one is kept).
    pub fn record_leak(&self, what: String) {
        let mut leak = self.leak.borrow_mut();
        if leak.is_none() {
            *leak = Some(what);
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Records a leak if `deadline` came from the real clock.
    pub(crate) fn check_deadline(&self, deadline: Instant) {
        if deadline + REAL_INSTANT_MARGIN < self.epoch {
            self.record_leak(
                "a real std::time::Instant (from Instant::now()) was given to a corio timer \
                 (sleep_until, interval_at, timeout_at, Timeout::reschedule) inside a simulation: \
                 virtual time does not follow the real clock. Compute deadlines from \
                 corio::sim::now() (or use the Duration forms: sleep, wait_for, timeout)"
                    .to_owned(),
            );
        }
    }

    /// Polls the timer `key` (`None`: not armed yet) due at `deadline`.
    pub(crate) fn poll_timer(
        &self,
        key: &mut Option<usize>,
        deadline: Instant,
        waker: &Waker,
    ) -> Poll<()> {
        let mut st = self.state.borrow_mut();
        match *key {
            None => {
                if st.now >= deadline {
                    return Poll::Ready(());
                }
                let seq = st.next_seq;
                st.next_seq += 1;
                let k = st.entries.insert(Entry {
                    seq,
                    waker: Some(waker.clone()),
                    fired: false,
                });
                st.heap.push(Reverse((deadline, seq, k)));
                *key = Some(k);
                Poll::Pending
            }
            Some(k) => match st.entries.get_mut(k) {
                Some(e) if e.fired => {
                    st.entries.remove(k);
                    *key = None;
                    Poll::Ready(())
                }
                Some(e) => {
                    match &mut e.waker {
                        Some(w) if w.will_wake(waker) => {}
                        slot => *slot = Some(waker.clone()),
                    }
                    Poll::Pending
                }
                // Removed behind our back cannot happen; treat as fired.
                None => {
                    *key = None;
                    Poll::Ready(())
                }
            },
        }
    }

    /// Moves timer `key` to `deadline` (it waits again).
    pub(crate) fn reset_timer(&self, key: usize, deadline: Instant) {
        let mut st = self.state.borrow_mut();
        let seq = st.next_seq;
        st.next_seq += 1;
        if let Some(e) = st.entries.get_mut(key) {
            e.seq = seq;
            e.fired = false;
            st.heap.push(Reverse((deadline, seq, key)));
        }
    }

    pub(crate) fn remove_timer(&self, key: usize) {
        let mut st = self.state.borrow_mut();
        if st.entries.contains(key) {
            st.entries.remove(key);
        }
    }

    /// Called when a real file descriptor is about to be registered.
    pub(crate) fn check_real_io(&self) -> std::io::Result<()> {
        if !self.deny_real_io.get() {
            return Ok(());
        }
        let msg = "a real socket or file descriptor was registered with corio's reactor inside \
                   a simulation: real I/O is not deterministic. Use corio::sim::net's in-memory \
                   listener and streams instead";
        self.record_leak(msg.to_owned());
        Err(std::io::Error::other(msg))
    }
}

/// Installs `clock` on this thread until the guard is dropped (the previous
/// clock, if any, is restored).
pub fn enter(clock: Rc<VirtualClock>) -> Entered {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(clock));
    INSTALLED.with(|i| i.set(true));
    Entered { prev }
}

/// The clock installed on this thread.
pub fn current() -> Option<Rc<VirtualClock>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Runs `f` with the clock installed on this thread, without cloning it.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&VirtualClock>) -> R) -> R {
    if !INSTALLED.with(Cell::get) {
        return f(None);
    }
    CURRENT.with(|c| f(c.borrow().as_deref()))
}

/// Restores the previous clock when dropped (see [`enter`]).
#[must_use = "the clock is uninstalled when the guard is dropped"]
pub struct Entered {
    prev: Option<Rc<VirtualClock>>,
}

impl fmt::Debug for Entered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entered").finish_non_exhaustive()
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let prev = self.prev.take();
        INSTALLED.with(|i| i.set(prev.is_some()));
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}
