//! The process-wide reactor: one `polling::Poller`, the I/O sources, the timer
//! wheel, and the protocol that decides which thread waits in the poller.
//!
//! # Who drives
//!
//! 1. Only one thread at a time may wait in the poller ("drive"): the right to
//!    drive is the `driver` mutex, taken with `try_lock` by [`Reactor::try_drive`].
//!    A second caller gets `None` at once and should park on its own.
//! 2. An executor that promises to call `try_drive` whenever it is idle (a
//!    scheduler's park hook, [`crate::block_on`]) holds a [`DriverGuard`] from
//!    [`Reactor::register_driver`].
//! 3. While no guard is alive, a fallback thread ("corio-reactor"), started
//!    lazily the first time a source or timer is registered, drives in a loop,
//!    so `Async` and timers work under tokio or `futures::executor` with no
//!    setup. When a guard appears it notifies the poller; the fallback thread
//!    returns from its wait, sees the guard, and sleeps on a condvar until the
//!    last guard is dropped.
//! 4. A thread that could not drive (the lock was taken) may ask to be unparked
//!    when the driver releases the lock ([`Reactor::park_until_driver_free`]), so
//!    a `block_on` thread takes over when the previous driver leaves.
//! 5. A thread that could not drive and is about to sleep may first look
//!    beside the driver ([`Reactor::poll_beside`], Linux: epoll lets several
//!    threads wait on one instance): a zero-timeout wait of its own that
//!    delivers what is ready. The driver may be a thread those events woke that
//!    has not run yet, which on a busy CPU lasts milliseconds. The look passes
//!    on what belongs to the driver (a notification, the timer) with a new
//!    eventfd edge, so the driver still wakes.
//!
//! # Timers and the wait timeout
//!
//! Before waiting, the driver fires due timers and computes the wait timeout as
//! `min(caller's timeout, next timer deadline)`. It records the deadline it is
//! waiting for; inserting a timer with an earlier deadline calls `notify()` so
//! the driver wakes and recomputes. On Linux the poller (epoll.rs) ends a timed
//! wait with a timerfd armed to the nanosecond (not epoll_wait's 1 ms
//! granularity), which is what gives sub-millisecond timer precision; it is
//! re-armed only when the deadline moves earlier.
//!
//! # Readiness (edge mode)
//!
//! Sources are registered once in edge-triggered mode when the OS has it
//! (epoll, kqueue): the kernel reports each *new* readiness once and nothing
//! needs re-arming. Each source keeps its readiness in one atomic word (a
//! ready bit per direction and a tick counting events, see source.rs): an
//! operation that gets `WouldBlock` clears the bit only if no event arrived
//! since it saw the bit (same tick), so a wake-up that races with the failed
//! operation is never lost, and a task never spins: it waits until the
//! kernel reports new readiness. Where edge mode is missing, sources use
//! oneshot mode and are re-armed (one `modify`) when a waiter registers.

use crate::source::{Hit, Source};
use crate::sync::{
    lock, read, write, Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, OnceLock, Ordering,
    RwLock, TryLockError,
};
use crate::sys::{self, Events, Poller};
use crate::timer::wheel::{Wheel, TICK_NS};
use polling::{Event, PollMode};
use slab::Slab;
use std::io;
use std::os::unix::io::{BorrowedFd, RawFd};
use std::task::{Poll, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// The process-wide I/O and timer reactor.
///
/// Obtain it with [`Reactor::get`]. Executors wire their idle path to it:
/// hold a [`DriverGuard`] from [`register_driver`](Reactor::register_driver),
/// call [`try_drive`](Reactor::try_drive) when idle and
/// [`notify`](Reactor::notify) to wake the thread inside `try_drive`.
///
/// ```
/// use corio_reactor::Reactor;
/// use std::time::Duration;
///
/// let reactor = Reactor::get();
/// let _guard = reactor.register_driver(); // this thread promises to drive
/// // Nothing is registered: waits (at most 1 ms) and reports no wake-ups,
/// // or None if another thread is driving right now.
/// if let Some(res) = reactor.try_drive(Some(Duration::from_millis(1))) {
///     assert_eq!(res?, 0);
/// }
/// # std::io::Result::Ok(())
/// ```
pub struct Reactor {
    poller: Poller,
    /// Edge-triggered registration is available (no re-arming).
    edge: bool,
    /// Read-locked to deliver events (the driver and `poll_beside` at once: a
    /// thread preempted while delivering must not stop the other), write-locked
    /// to add or remove a source.
    sources: RwLock<Slab<Arc<Source>>>,
    /// How many descriptors are in the poller: none, and a zero-timeout drive
    /// (a busy worker's periodic look) has no readiness to ask the kernel for.
    registered: AtomicUsize,
    /// The right to wait in the poller, with the buffers the driver reuses.
    driver: Mutex<DriverState>,
    /// The buffer of [`poll_beside`](Reactor::poll_beside) (one such look at a time).
    beside: Mutex<Events>,
    timers: Mutex<Timers>,
    /// The wheel's time, stored after every advance with the lock held: every
    /// timer due at or before this tick has fired and left the wheel. A
    /// `Sleep` reads it to learn that it completed without taking the lock.
    elapsed: AtomicU64,
    /// Tick 0 of the timer wheel.
    base: Instant,
    /// Live [`DriverGuard`]s.
    external: AtomicUsize,
    fallback_started: AtomicBool,
    fallback_lock: Mutex<()>,
    fallback_cv: Condvar,
    /// Threads waiting for the driver lock to be released.
    idle: Mutex<Vec<Thread>>,
    idle_count: AtomicUsize,
}

struct DriverState {
    events: Events,
}

struct Timers {
    /// Armed timers and whom each wakes; an entry leaves when it fires.
    wheel: Wheel<Waker>,
    /// The driver is blocked in the poller until this tick (u64::MAX: no timer).
    waiting_until: Option<u64>,
}

/// Proof that an executor drives the reactor (see [`Reactor::register_driver`]).
///
/// While at least one guard is alive the fallback driver thread stays asleep.
/// Dropping the last guard hands driving back to the fallback thread.
#[derive(Debug)]
#[must_use = "the fallback driver resumes as soon as the guard is dropped"]
pub struct DriverGuard {
    _private: (),
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        // There is one reactor per process: the guard belongs to it.
        let reactor = Reactor::get();
        if reactor.external.fetch_sub(1, Ordering::SeqCst) == 1 {
            reactor.ensure_driven();
        }
    }
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("edge", &self.edge)
            .field("external_drivers", &self.external.load(Ordering::Relaxed))
            .field("pending_timers", &self.pending_timers())
            .finish_non_exhaustive()
    }
}

static REACTOR: OnceLock<Reactor> = OnceLock::new();

impl Reactor {
    /// The process-wide reactor, created on first use.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create the poller (epoll/kqueue and an eventfd) the
    /// first time: the process is out of file descriptors or memory, and no
    /// async I/O is possible. Raise `ulimit -n` or free descriptors.
    pub fn get() -> &'static Reactor {
        REACTOR.get_or_init(|| match Reactor::new() {
            Ok(r) => r,
            Err(e) => panic!(
                "corio-reactor: cannot create the OS poller (epoll/kqueue): {e}; \
                 the process is probably out of file descriptors (raise `ulimit -n`)"
            ),
        })
    }

    fn new() -> io::Result<Reactor> {
        let poller = Poller::new()?;
        let edge = poller.supports_edge();
        Ok(Reactor {
            poller,
            edge,
            sources: RwLock::new(Slab::new()),
            driver: Mutex::new(DriverState {
                events: Events::new(),
            }),
            beside: Mutex::new(Events::new()),
            timers: Mutex::new(Timers {
                wheel: Wheel::new(),
                waiting_until: None,
            }),
            elapsed: AtomicU64::new(0),
            base: Instant::now(),
            external: AtomicUsize::new(0),
            fallback_started: AtomicBool::new(false),
            fallback_lock: Mutex::new(()),
            fallback_cv: Condvar::new(),
            idle: Mutex::new(Vec::new()),
            idle_count: AtomicUsize::new(0),
            registered: AtomicUsize::new(0),
        })
    }

    /// Waits for I/O events, the next timer deadline (capped by `timeout`;
    /// `None` = no cap) or [`notify`](Reactor::notify), then wakes every task
    /// whose source became ready or whose timer fired, and returns how many
    /// wakers it woke.
    ///
    /// Returns `None` at once if another thread is driving: only one thread
    /// waits in the poller (a second one would return immediately anyway).
    /// `Some(Ok(0))` means a timeout or a notification. `Some(Err(_))` is an OS
    /// error from the poller (callers should back off and retry).
    ///
    /// Never blocks when a timer is already due: those wakers are woken and the
    /// poller is only polled (zero timeout).
    pub fn try_drive(&self, timeout: Option<Duration>) -> Option<io::Result<usize>> {
        self.try_drive_unless(timeout, || false)
    }

    /// As [`try_drive`](Reactor::try_drive), but does not wait (only polls) if
    /// `woken()` is true once this thread holds the driver lock.
    ///
    /// For a caller with a wake-up flag of its own, set before the waker calls
    /// [`notify`](Reactor::notify): a notification sent while *another* thread was
    /// driving wakes that thread, which consumes it, and a plain `try_drive` would
    /// then wait for the next event with the flag already set (a lost wake-up;
    /// several runtimes in one process share the reactor). Read under the lock, the
    /// flag is either seen here or set after this look, and then its notification
    /// reaches this thread's wait: only the lock holder waits in the poller.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    /// use std::time::{Duration, Instant};
    ///
    /// let woken = AtomicBool::new(true);
    /// let start = Instant::now();
    /// let reactor = corio_reactor::Reactor::get();
    /// while reactor.try_drive_unless(Some(Duration::from_secs(5)), || woken.load(SeqCst)).is_none() {}
    /// assert!(start.elapsed() < Duration::from_secs(4));
    /// ```
    pub fn try_drive_unless(
        &self,
        timeout: Option<Duration>,
        woken: impl FnOnce() -> bool,
    ) -> Option<io::Result<usize>> {
        let mut st = match self.driver.try_lock() {
            Ok(g) => g,
            Err(TryLockError::WouldBlock) => return None,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
        };
        let timeout = if woken() {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        let (wakers, res) = self.drive(&mut st, timeout);
        drop(st);
        // Wake outside the driver lock: a wake-up may unpark a thread that takes
        // this one's CPU at once (on a busy machine, for a whole time slice), and
        // with the lock held every other thread that wanted to drive meanwhile
        // found it taken and went to sleep.
        let res = res.map(|()| wakers.len());
        for w in wakers {
            w.wake();
        }
        // Whoever waited for the lock may drive now.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.idle_count.load(Ordering::SeqCst) > 0 {
            let threads = std::mem::take(&mut *lock(&self.idle));
            self.idle_count.store(0, Ordering::SeqCst);
            for t in threads {
                t.unpark();
            }
        }
        Some(res)
    }

    /// Fires due timers, waits in the poller and delivers readiness; returns whom to
    /// wake (the caller wakes them once it has released the driver lock).
    fn drive(
        &self,
        st: &mut DriverState,
        timeout: Option<Duration>,
    ) -> (Vec<Waker>, io::Result<()>) {
        let mut wakers = Vec::new();
        // 1. Fire due timers and work out how long to wait.
        // A deadline, not a timeout: the next timer's tick instant is the same
        // at every wait until it changes, so the poller re-arms nothing.
        // One clock read for the "now" of the wheel and of the wait.
        let now = Instant::now();
        let zero = timeout == Some(Duration::ZERO);
        let deadline = {
            let mut t = lock(&self.timers);
            self.advance_timers(&mut t, self.tick_at(now), &mut wakers);
            if !wakers.is_empty() || zero {
                t.waiting_until = None;
                Some(now)
            } else {
                let next = t.wheel.next_expiration();
                let timer_at = next.map(|tick| self.tick_instant(tick));
                let caller_at = timeout.and_then(|d| now.checked_add(d));
                t.waiting_until = Some(next.unwrap_or(u64::MAX));
                match (caller_at, timer_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        };
        // 2. Wait (a zero wait with nothing registered would only be a system call).
        st.events.clear();
        let res = if zero && self.registered.load(Ordering::Relaxed) == 0 {
            Ok(0)
        } else {
            sys::wait_until(&self.poller, &mut st.events, deadline)
        };
        // 3. Timers that came due during the wait (a zero wait took too little
        // time to be worth another clock read and lock).
        if !zero {
            let mut t = lock(&self.timers);
            t.waiting_until = None;
            self.advance_timers(&mut t, self.tick_at(Instant::now()), &mut wakers);
        }
        // 4. I/O readiness.
        if res.is_ok() {
            self.deliver(&st.events, &mut wakers);
        }
        (wakers, res.map(|_| ()))
    }

    /// Hands each event's readiness to its source, which adds whom it wakes to `wakers`.
    fn deliver(&self, events: &Events, wakers: &mut Vec<Waker>) {
        if events.is_empty() {
            return;
        }
        let sources = read(&self.sources);
        for ev in sys::hits(events) {
            if let Some(src) = sources.get(ev.key) {
                let hit = Hit {
                    readable: ev.readable,
                    writable: ev.writable,
                    read_closed: ev.read_closed,
                };
                src.deliver(hit, wakers, |r, w| self.rearm(src, r, w));
            }
        }
    }

    /// Delivers the I/O readiness that is ready now without the driver lock, and
    /// returns how many wakers it woke; `None` where the poller cannot be asked
    /// beside a waiting thread (only epoll can), or if another thread is taking
    /// such a look right now.
    ///
    /// For a thread that found the driver lock taken and would otherwise sleep:
    /// the holder may be a thread that the events already woke but that has not
    /// run yet (on a busy CPU it waits for its turn for milliseconds), and until
    /// it runs nobody would deliver them. The holder then returns with less to
    /// deliver, or with nothing (a spurious wake-up, which drivers expect). If
    /// the look takes the timer's event, it fires the due timers as well.
    /// Costs one atomic load while no I/O source is registered.
    ///
    /// ```
    /// let reactor = corio_reactor::Reactor::get();
    /// // Nothing is registered: a look wakes nobody.
    /// if let Some(n) = reactor.poll_beside() {
    ///     assert_eq!(n, 0);
    /// }
    /// ```
    pub fn poll_beside(&self) -> Option<usize> {
        if !sys::CAN_POLL_BESIDE {
            return None;
        }
        if self.registered.load(Ordering::Relaxed) == 0 {
            return Some(0);
        }
        let mut events = match self.beside.try_lock() {
            Ok(g) => g,
            Err(TryLockError::WouldBlock) => return None,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
        };
        let mut wakers = Vec::new();
        events.clear();
        // An error may come after the events were taken (passing a wake-up on to the
        // waiter failed): deliver them anyway, and fire due timers in case the timer's
        // event was among them (edge-triggered events are reported once).
        if !matches!(sys::poll_beside(&self.poller, &mut events), Ok(false)) {
            // Not `waiting_until`: that says how long the waiter waits.
            let mut t = lock(&self.timers);
            self.advance_timers(&mut t, self.tick_at(Instant::now()), &mut wakers);
        }
        self.deliver(&events, &mut wakers);
        drop(events);
        let n = wakers.len();
        for w in wakers {
            w.wake();
        }
        Some(n)
    }

    /// Wakes the thread blocked in [`try_drive`](Reactor::try_drive) (or makes
    /// the next call return at once), from any thread. Cheap when a notification
    /// is already pending (one atomic).
    pub fn notify(&self) {
        // polling's notify only fails if the eventfd write fails, which cannot
        // happen for a counter far from overflow; nothing useful to do anyway.
        let _ = self.poller.notify();
    }

    /// Declares that the calling executor drives the reactor (calls
    /// [`try_drive`](Reactor::try_drive) whenever it is idle) until the guard is
    /// dropped. While any guard lives the fallback driver thread stands aside.
    ///
    /// The facade's park hook is: `park(t) = try_drive(t).is_some()`,
    /// `unpark() = notify()`, `poll_ready() = try_drive(Some(Duration::ZERO))`,
    /// with one guard held for the runtime's life.
    pub fn register_driver(&self) -> DriverGuard {
        self.external.fetch_add(1, Ordering::SeqCst);
        if self.fallback_started.load(Ordering::SeqCst) {
            // Get the fallback thread out of the poller so it sees the guard.
            self.notify();
        }
        DriverGuard { _private: () }
    }

    /// Timers armed: registered by a pending [`Sleep`](crate::timer::Sleep)'s
    /// poll and neither fired nor given up. A dropped `Sleep` gives its timer
    /// up, so this returns to its previous value when every sleep is gone.
    pub fn pending_timers(&self) -> usize {
        lock(&self.timers).wheel.len()
    }

    /// Number of registered I/O sources (one per live `Async` / net object).
    pub fn registered_sources(&self) -> usize {
        read(&self.sources).len()
    }

    /// Parks the calling thread until the thread holding the driver lock
    /// releases it, an `unpark` of this thread ([`std::thread::Thread::unpark`]),
    /// or `max` elapses. For a thread whose [`try_drive`](Reactor::try_drive)
    /// returned `None` and that wants to drive next; it may return early
    /// (spuriously), so callers try again.
    ///
    /// ```
    /// use corio_reactor::Reactor;
    /// use std::time::Duration;
    ///
    /// let reactor = Reactor::get();
    /// // Nobody drives: returns at once (or after 10 ms at most).
    /// reactor.park_until_driver_free(Duration::from_millis(10));
    /// ```
    pub fn park_until_driver_free(&self, max: Duration) {
        {
            // Once per thread: a caller that comes back every `max` while one driver
            // stays (an idle runtime blocked in the poller) must not grow the list.
            let me = thread::current();
            let mut idle = lock(&self.idle);
            if !idle.iter().any(|t| t.id() == me.id()) {
                idle.push(me);
            }
        }
        self.idle_count.fetch_add(1, Ordering::SeqCst);
        std::sync::atomic::fence(Ordering::SeqCst);
        // The driver may have left before it saw us: check once more.
        match self.driver.try_lock() {
            Ok(_) | Err(TryLockError::Poisoned(_)) => {}
            Err(TryLockError::WouldBlock) => thread::park_timeout(max),
        }
    }

    /// Starts (or wakes) the fallback driver if no executor drives.
    pub(crate) fn ensure_driven(&'static self) {
        if self.external.load(Ordering::SeqCst) > 0 {
            return;
        }
        if !self.fallback_started.swap(true, Ordering::SeqCst) {
            let spawned = thread::Builder::new()
                .name("corio-reactor".into())
                .spawn(move || self.fallback_loop());
            if let Err(e) = spawned {
                self.fallback_started.store(false, Ordering::SeqCst);
                eprintln!(
                    "corio-reactor: cannot start the fallback driver thread: {e}; \
                     I/O and timers only progress inside corio_reactor::block_on or a \
                     runtime that drives the reactor"
                );
            }
        } else {
            let _g = lock(&self.fallback_lock);
            self.fallback_cv.notify_all();
        }
    }

    fn fallback_loop(&'static self) {
        loop {
            {
                let mut g = lock(&self.fallback_lock);
                while self.external.load(Ordering::SeqCst) > 0 {
                    g = self.fallback_cv.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            }
            match self.try_drive_unless(None, || self.external.load(Ordering::SeqCst) > 0) {
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    eprintln!("corio-reactor: poller wait failed: {e}; retrying in 10 ms");
                    thread::sleep(Duration::from_millis(10));
                }
                // Someone else drives (a block_on that just dropped its guard):
                // wait for the lock to free up.
                None => self.park_until_driver_free(Duration::from_millis(10)),
            }
        }
    }

    // ---- timers -------------------------------------------------------------

    /// Fires the timers due at tick `now` (their wakers go to `wake`) and
    /// publishes the wheel's new time.
    fn advance_timers(&self, t: &mut Timers, now: u64, wake: &mut Vec<Waker>) {
        t.wheel.advance(now, &mut |w| wake.push(w));
        // Release: a `Sleep` that reads this tick sees its timer fired (and
        // the wakers run only after the lock is released, after this store).
        self.elapsed.store(t.wheel.elapsed(), Ordering::Release);
    }

    /// Has the timer due at tick `when` fired? Exact with the lock held (an
    /// armed timer is due after the wheel's time); without it, `false` may be
    /// stale.
    fn timer_fired(&self, when: u64) -> bool {
        when <= self.elapsed.load(Ordering::Acquire)
    }

    /// The wheel tick `t` falls in (rounded down).
    fn tick_at(&self, t: Instant) -> u64 {
        let ns = t.saturating_duration_since(self.base).as_nanos();
        u64::try_from(ns).unwrap_or(u64::MAX) / TICK_NS
    }

    /// The tick a timer for `deadline` is due at: rounded up, so a timer never
    /// fires before its deadline.
    pub(crate) fn deadline_tick(&self, deadline: Instant) -> u64 {
        let ns = deadline.saturating_duration_since(self.base).as_nanos();
        // 2^62 ns is ~146 years: far beyond any deadline the wheel must tell apart.
        let ns = u64::try_from(ns).unwrap_or(u64::MAX).min(1 << 62);
        ns.div_ceil(TICK_NS)
    }

    fn tick_instant(&self, tick: u64) -> Instant {
        let ns = tick.saturating_mul(TICK_NS);
        self.base
            .checked_add(Duration::from_nanos(ns))
            .unwrap_or_else(|| self.base + Duration::from_secs(86_400 * 365 * 30))
    }

    /// Arms a timer due at tick `when` (from [`deadline_tick`](Reactor::deadline_tick))
    /// that wakes `waker`. Returns its key, or `None` if it is due already.
    ///
    /// A timer leaves the wheel when it fires: its owner learns that from
    /// [`poll_timer`](Reactor::poll_timer) (no lock once the wheel's time is
    /// past `when`) and forgets the key, which the wheel may have reused.
    pub(crate) fn arm_timer(&'static self, when: u64, waker: &Waker) -> Option<usize> {
        if self.timer_fired(when) {
            return None;
        }
        let (key, wake_driver) = {
            let mut t = lock(&self.timers);
            let key = t.wheel.insert(when, waker.clone()).ok()?;
            (key, t.waiting_until.is_some_and(|until| when < until))
        };
        if wake_driver {
            self.notify();
        }
        self.ensure_driven();
        Some(key)
    }

    /// Polls the timer `key` due at tick `when`: `Ready` once it fired (the key
    /// is then dead); otherwise `waker` is the one its firing wakes.
    pub(crate) fn poll_timer(&self, key: usize, when: u64, waker: &Waker) -> Poll<()> {
        if self.timer_fired(when) {
            return Poll::Ready(());
        }
        let mut t = lock(&self.timers);
        if when <= t.wheel.elapsed() {
            return Poll::Ready(());
        }
        if let Some(w) = t.wheel.get_mut(key) {
            if !w.will_wake(waker) {
                *w = waker.clone();
            }
        }
        Poll::Pending
    }

    /// Gives up the timer `key` due at tick `when` (unless it fired already).
    pub(crate) fn cancel_timer(&self, key: usize, when: u64) {
        if self.timer_fired(when) {
            return;
        }
        let mut t = lock(&self.timers);
        if when > t.wheel.elapsed() {
            t.wheel.remove(key);
        }
    }

    // ---- I/O sources ----------------------------------------------------------

    /// Registers `fd` (which must be non-blocking and stay open until
    /// [`remove_io`](Reactor::remove_io)).
    pub(crate) fn insert_io(&'static self, fd: RawFd) -> io::Result<Arc<Source>> {
        let source = {
            let mut sources = write(&self.sources);
            let entry = sources.vacant_entry();
            let source = Arc::new(Source::new(
                fd,
                entry.key(),
                self.edge,
                sys::REPORTS_READ_CLOSED,
            ));
            entry.insert(source.clone());
            source
        };
        let (interest, mode) = if self.edge {
            (Event::all(source.key), PollMode::Edge)
        } else {
            (Event::none(source.key), PollMode::Oneshot)
        };
        self.registered.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller (Async::new) keeps `fd` open until `remove_io`
        // deletes it from the poller, which Async's Drop does before closing.
        let added = unsafe { self.poller.add_with_mode(fd, interest, mode) };
        if let Err(e) = added {
            self.registered.fetch_sub(1, Ordering::Relaxed);
            write(&self.sources).try_remove(source.key);
            return Err(e);
        }
        self.ensure_driven();
        Ok(source)
    }

    /// Deregisters a source (before its fd is closed).
    pub(crate) fn remove_io(&self, source: &Source) -> io::Result<()> {
        write(&self.sources).try_remove(source.key);
        // SAFETY: the fd is still open: Async drops its I/O object only after this.
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
        let deleted = self.poller.delete(fd);
        self.registered.fetch_sub(1, Ordering::Relaxed);
        deleted
    }

    pub(crate) fn rearm(&self, source: &Source, read: bool, write: bool) -> io::Result<()> {
        let mut ev = Event::none(source.key);
        ev.readable = read;
        ev.writable = write;
        // SAFETY: the source is registered, so its fd is open (see insert_io).
        let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
        self.poller.modify_with_mode(fd, ev, PollMode::Oneshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_waiting_for_the_driver_again_and_again_is_listed_once() {
        let reactor = Reactor::get();
        let me = thread::current().id();
        for _ in 0..5 {
            reactor.park_until_driver_free(Duration::from_millis(1));
        }
        // A drive elsewhere in this test binary may have emptied the list meanwhile:
        // never more than one entry, though.
        let listed = lock(&reactor.idle).iter().filter(|t| t.id() == me).count();
        assert!(listed <= 1, "listed {listed} times");
    }

    /// The driver lock's holder does not run (here the test holds it; in a program,
    /// a thread its events woke that waits for a busy CPU): a look beside it
    /// delivers the readiness that arrived meanwhile.
    #[test]
    fn a_look_beside_a_driver_that_does_not_run_delivers_readiness(
    ) -> Result<(), Box<dyn std::error::Error>> {
        use std::io::Write;
        use std::os::unix::io::AsRawFd;
        use std::os::unix::net::UnixStream;
        use std::sync::atomic::AtomicUsize;
        use std::task::{Context, Wake};

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        // A reactor of its own, which the test drives (no fallback thread).
        let reactor: &'static Reactor = Box::leak(Box::new(Reactor::new()?));
        reactor.external.fetch_add(1, Ordering::SeqCst);
        let (a, mut b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        let source = reactor.insert_io(a.as_raw_fd())?;
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        // A new source counts as ready (nothing known yet): a read that would
        // block clears that, as `Async` does.
        if let Poll::Ready(tick) = source.poll_ready(crate::source::READ, &mut cx) {
            source.clear_ready(crate::source::READ, tick?);
        }
        assert!(source.poll_ready(crate::source::READ, &mut cx).is_pending());
        let held = lock(&reactor.driver);
        assert_eq!(reactor.poll_beside(), Some(0), "nothing has arrived yet");
        b.write_all(b"x")?;
        assert_eq!(reactor.poll_beside(), Some(1));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(source.poll_ready(crate::source::READ, &mut cx).is_ready());
        drop(held);
        reactor.remove_io(&source)?;
        Ok(())
    }

    /// A waker sets its target's flag and notifies while another thread waits in the
    /// poller (another runtime's worker): that thread takes the notification. The
    /// target, driving next, must see its flag and not wait for its timeout.
    #[test]
    fn a_wake_up_taken_by_another_driver_is_not_lost() -> Result<(), Box<dyn std::error::Error>> {
        use std::sync::atomic::AtomicBool;
        use std::time::Instant;

        // A reactor of its own: nothing else in this test binary drives it.
        let reactor: &'static Reactor = Box::leak(Box::new(Reactor::new()?));
        let other = thread::spawn(|| reactor.try_drive(Some(Duration::from_secs(30))));
        // Until `other` holds the driver lock (it waits in the poller then).
        while reactor.driver.try_lock().is_ok() {
            thread::yield_now();
        }
        // The waker: sets the target's flag, then notifies (taken by `other`).
        let woken = AtomicBool::new(true);
        reactor.notify();
        let start = Instant::now();
        let res = other.join().map_err(|_| "the driving thread panicked")?;
        assert!(matches!(res, Some(Ok(0))), "{res:?}");
        let after_other = start.elapsed();
        assert!(
            after_other < Duration::from_secs(20),
            "the notification took {after_other:?}"
        );
        let start = Instant::now();
        let res = reactor.try_drive_unless(Some(Duration::from_secs(30)), || {
            woken.load(Ordering::SeqCst)
        });
        assert!(matches!(res, Some(Ok(0))), "{res:?}");
        let waited = start.elapsed();
        assert!(
            waited < Duration::from_secs(20),
            "waited {waited:?} in the poller with the wake-up flag set"
        );
        Ok(())
    }
}
