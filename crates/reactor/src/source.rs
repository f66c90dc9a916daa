//! One registered file descriptor: its readiness word and its wakers.
//!
//! # Protocol
//!
//! A source's readiness is one atomic word: a ready bit per direction, a
//! `READ_CLOSED` bit (the peer hung up: reads never block again), and a `tick`
//! counting the events the driver delivered. The hot path (a read or write on
//! a ready socket) only loads the word; the wakers sit behind a mutex that the
//! path takes only to wait.
//!
//! 1. **Deliver** (driver): add the event's bits and one tick in a single
//!    read-modify-write, *then* lock the wakers and take those of the directions
//!    hit.
//! 2. **Poll** (task): load the word; ready: return its tick. Not ready: lock
//!    the wakers, store the task's waker, load the word *again*, return it if
//!    ready now, else wait. Either the deliver's lock comes after the poll's
//!    (and it finds the waker), or before (and the poll's second load, which
//!    follows it through the mutex, sees the bit): no wake-up is lost.
//! 3. **Clear** (task): an operation that saw readiness at tick `t` and found
//!    the direction not ready after all (`WouldBlock`, or a short stream read)
//!    clears the bit with a compare-exchange that succeeds only if the tick is
//!    still `t`: readiness that arrived after the operation looked is kept.
//!    A short read also keeps it when `READ_CLOSED` is set (end of stream is
//!    permanent and the kernel reports it only once).
//!
//! The tick is shared by both directions (as tokio does): an event for one
//! direction makes a concurrent clear of the other keep its bit, which costs at
//! most one `WouldBlock` retry, never a lost wake-up. `tests/loom.rs` checks the
//! protocol under every interleaving (`loom_model`).

use crate::sync::source::{lock, AtomicUsize, Mutex, Ordering};
use slab::Slab;
use std::io;
use std::os::unix::io::RawFd;
use std::task::{Context, Poll, Waker};

/// Read direction index.
pub(crate) const READ: usize = 0;
/// Write direction index.
pub(crate) const WRITE: usize = 1;

/// `1 << dir` is a direction's ready bit.
const READ_READY: usize = 1 << READ;
const WRITE_READY: usize = 1 << WRITE;
/// The peer shut its side down (or the socket failed).
const READ_CLOSED: usize = 1 << 2;
const FLAGS: usize = READ_READY | WRITE_READY | READ_CLOSED;
const TICK_SHIFT: u32 = 3;

fn tick_of(word: usize) -> usize {
    word >> TICK_SHIFT
}

/// What one event says about a source.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Hit {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer hung up or the socket failed (reads will not block again).
    pub(crate) read_closed: bool,
}

/// One registered file descriptor.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) fd: RawFd,
    pub(crate) key: usize,
    /// Registered edge-triggered (nothing to re-arm).
    edge: bool,
    /// A short stream read may clear read readiness: the backend reports
    /// hang-ups (`Hit::read_closed`), or the registration is oneshot (its
    /// re-arm checks the level, pending end of stream included).
    short_read_clears: bool,
    /// Ready bits, `READ_CLOSED` and the tick (see the module doc).
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

#[derive(Debug, Default)]
struct Waiters {
    dirs: [Direction; 2],
}

#[derive(Debug, Default)]
struct Direction {
    /// Oneshot mode only: the kernel registration currently includes this direction.
    armed: bool,
    /// The waker of `poll_readable`/`poll_writable` (AsyncRead/AsyncWrite path).
    waker: Option<Waker>,
    /// Wakers of `readable()`/`writable()` futures: any number of waiters.
    waiters: Slab<Option<Waker>>,
}

impl Direction {
    fn has_waiters(&self) -> bool {
        self.waker.is_some() || self.waiters.iter().any(|(_, w)| w.is_some())
    }

    fn take_wakers(&mut self, out: &mut Vec<Waker>) {
        if let Some(w) = self.waker.take() {
            out.push(w);
        }
        for (_, w) in self.waiters.iter_mut() {
            if let Some(w) = w.take() {
                out.push(w);
            }
        }
    }
}

impl Source {
    /// A source for `fd` under `key`. Optimistic: both directions start ready,
    /// so a fresh socket is tried once before anyone waits.
    pub(crate) fn new(fd: RawFd, key: usize, edge: bool, reports_read_closed: bool) -> Source {
        Source {
            fd,
            key,
            edge,
            short_read_clears: !edge || reports_read_closed,
            readiness: AtomicUsize::new(READ_READY | WRITE_READY),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    /// Protocol step 1, called by the driver for each event of this source.
    /// In oneshot mode the registration is now disarmed: `rearm(read, write)`
    /// re-arms it for the directions still waited for (under the waker lock).
    pub(crate) fn deliver(
        &self,
        hit: Hit,
        out: &mut Vec<Waker>,
        rearm: impl FnOnce(bool, bool) -> io::Result<()>,
    ) {
        let mut set = 0;
        if hit.readable {
            set |= READ_READY;
        }
        if hit.writable {
            set |= WRITE_READY;
        }
        if hit.read_closed {
            set |= READ_READY | READ_CLOSED;
        }
        let word = if set == 0 {
            self.readiness.load(Ordering::Acquire)
        } else {
            let old = self
                .readiness
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                    Some((w & !FLAGS).wrapping_add(1 << TICK_SHIFT) | (w & FLAGS) | set)
                });
            // The closure never refuses.
            old.unwrap_or_else(|w| w) | set
        };
        let mut st = lock(&self.waiters);
        if set & READ_READY != 0 {
            st.dirs[READ].take_wakers(out);
        }
        if set & WRITE_READY != 0 {
            st.dirs[WRITE].take_wakers(out);
        }
        if !self.edge {
            let r = word & READ_READY == 0 && st.dirs[READ].has_waiters();
            let w = word & WRITE_READY == 0 && st.dirs[WRITE].has_waiters();
            st.dirs[READ].armed = r;
            st.dirs[WRITE].armed = w;
            if (r || w) && rearm(r, w).is_err() {
                // Cannot re-arm: wake the waiters so they see the error themselves.
                st.dirs[READ].take_wakers(out);
                st.dirs[WRITE].take_wakers(out);
            }
        }
    }

    /// The tick if `dir` is ready.
    #[inline]
    fn ready(&self, dir: usize) -> Option<usize> {
        let word = self.readiness.load(Ordering::Acquire);
        (word & (1 << dir) != 0).then_some(tick_of(word))
    }

    /// Protocol step 2: `Ready(tick)` if the direction is ready, else stores
    /// `cx`'s waker in the direction's single poll slot. A different waker
    /// already there is woken so that it can re-register (two tasks polling one
    /// direction ping-pong rather than lose a wake-up; use
    /// `readable()`/`writable()` for many waiters).
    #[inline]
    pub(crate) fn poll_ready(&self, dir: usize, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if crate::cancel::is_cancelled() {
            return Poll::Ready(Err(crate::cancel::Cancelled::default().into()));
        }
        match self.ready(dir) {
            Some(tick) => Poll::Ready(Ok(tick)),
            None => self.wait(dir, cx),
        }
    }

    /// The slow half of `poll_ready`: register, then look again.
    #[inline(never)]
    fn wait(&self, dir: usize, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut st = lock(&self.waiters);
        let d = &mut st.dirs[dir];
        match &mut d.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => {
                if let Some(old) = slot.replace(cx.waker().clone()) {
                    old.wake();
                }
            }
        }
        if let Some(tick) = self.ready(dir) {
            return Poll::Ready(Ok(tick));
        }
        self.arm(&mut st, dir)
    }

    /// Like `poll_ready` but with a waiter slot of its own (`*slot`), so any
    /// number of `readable()`/`writable()` futures can wait at once.
    pub(crate) fn poll_waiter(
        &self,
        dir: usize,
        slot: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        if crate::cancel::is_cancelled() {
            return Poll::Ready(Err(crate::cancel::Cancelled::default().into()));
        }
        if slot.is_none() {
            if let Some(tick) = self.ready(dir) {
                return Poll::Ready(Ok(tick));
            }
        }
        let mut st = lock(&self.waiters);
        let d = &mut st.dirs[dir];
        match slot {
            Some(i) => match d.waiters.get_mut(*i) {
                Some(Some(w)) if w.will_wake(cx.waker()) => {}
                Some(w) => *w = Some(cx.waker().clone()),
                None => *slot = Some(d.waiters.insert(Some(cx.waker().clone()))),
            },
            None => *slot = Some(d.waiters.insert(Some(cx.waker().clone()))),
        }
        // An event delivered before the lock was taken is seen here.
        if let Some(tick) = self.ready(dir) {
            if let Some(i) = slot.take() {
                st.dirs[dir].waiters.try_remove(i);
            }
            return Poll::Ready(Ok(tick));
        }
        self.arm(&mut st, dir)
    }

    /// Oneshot mode: make sure the registration includes `dir`. `Pending`
    /// once it does.
    fn arm(&self, st: &mut Waiters, dir: usize) -> Poll<io::Result<usize>> {
        if self.edge || st.dirs[dir].armed {
            return Poll::Pending;
        }
        st.dirs[dir].armed = true;
        let (r, w) = (st.dirs[READ].armed, st.dirs[WRITE].armed);
        match crate::reactor::Reactor::get().rearm(self, r, w) {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Frees a waiter slot (a `readable()` future dropped before it completed).
    pub(crate) fn drop_waiter(&self, dir: usize, slot: usize) {
        lock(&self.waiters).dirs[dir].waiters.try_remove(slot);
    }

    /// Protocol step 3: an operation got `WouldBlock` after seeing readiness
    /// at `tick`: forget the readiness unless a newer event arrived meanwhile.
    pub(crate) fn clear_ready(&self, dir: usize, tick: usize) {
        self.clear_if(tick, 1 << dir, 0);
    }

    /// Protocol step 3 for a stream read after seeing read readiness at `tick`
    /// that filled less than its buffer: forget the readiness (unless newer, or
    /// the peer hung up), so the next read waits for the kernel instead of
    /// costing an `EAGAIN`. Edge mode needs the backend to report hang-ups
    /// (epoll's `EPOLLRDHUP`): without it the readiness is kept.
    pub(crate) fn clear_after_short_read(&self, tick: usize) {
        if self.short_read_clears {
            self.clear_if(tick, READ_READY, READ_CLOSED);
        }
    }

    /// Clears `bit` if the tick is still `tick` and `unless` is not set.
    #[inline]
    fn clear_if(&self, tick: usize, bit: usize, unless: usize) {
        let mut word = self.readiness.load(Ordering::Acquire);
        while tick_of(word) == tick && word & bit != 0 && word & unless == 0 {
            match self.readiness.compare_exchange_weak(
                word,
                word & !bit,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(now) => word = now,
            }
        }
    }
}

/// The readiness protocol, exposed to `tests/loom.rs` only (built with `--cfg loom`).
#[cfg(loom)]
pub mod loom_model {
    use super::{Hit, Source};
    use std::task::{Context, Poll, Waker};

    /// A source with no descriptor, registered edge-triggered, whose backend
    /// reports hang-ups (as epoll's).
    #[derive(Debug)]
    pub struct Readiness(Source);

    impl Readiness {
        /// Both directions ready (a fresh source).
        pub fn new() -> Readiness {
            Readiness(Source::new(-1, 0, true, true))
        }
        /// The driver's delivery of one event; returns the wakers it took.
        pub fn deliver(&self, readable: bool, writable: bool, read_closed: bool) -> Vec<Waker> {
            let mut out = Vec::new();
            let hit = Hit {
                readable,
                writable,
                read_closed,
            };
            self.0.deliver(hit, &mut out, |_, _| Ok(()));
            out
        }
        /// `Some(tick)` if `dir` (0 read, 1 write) is ready, else the waker is stored.
        pub fn poll_ready(&self, dir: usize, waker: &Waker) -> Option<usize> {
            match self.0.poll_ready(dir, &mut Context::from_waker(waker)) {
                Poll::Ready(Ok(tick)) => Some(tick),
                Poll::Ready(Err(e)) => panic!("no error expected: {e}"),
                Poll::Pending => None,
            }
        }
        /// An operation got `WouldBlock` after seeing `tick`.
        pub fn clear_ready(&self, dir: usize, tick: usize) {
            self.0.clear_ready(dir, tick)
        }
        /// A short stream read after seeing `tick`.
        pub fn clear_after_short_read(&self, tick: usize) {
            self.0.clear_after_short_read(tick)
        }
    }

    impl Default for Readiness {
        fn default() -> Self {
            Readiness::new()
        }
    }
}
