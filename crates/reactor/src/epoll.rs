//! The reactor's poller on Linux and Android: epoll, with a wait that costs one
//! system call.
//!
//! `polling`'s epoll backend (used elsewhere) spends four more calls on every
//! wait: it re-arms its timerfd (`timerfd_settime`) and re-registers it
//! (oneshot `epoll_ctl`), and after the wait it drains its wake-up eventfd
//! (`read`) and re-registers that too. A busy server waits thousands of times
//! a second, so those calls were half of the reactor's own system calls. Here:
//!
//! - the wake-up eventfd is registered once, edge-triggered: every `write` is a
//!   new event, nothing is drained or re-armed (`notify` writes only when no
//!   notification is pending, as `polling` does);
//! - the timerfd is registered once, edge-triggered, and armed with an
//!   absolute deadline only when the wait needs an earlier wake-up than the one
//!   already armed. The reactor waits for timer-wheel tick instants, so
//!   successive waits for the same next timer re-arm nothing. A timer armed for
//!   a deadline nobody waits for any more fires once, as a spurious wake-up.
//!
//! Sub-millisecond precision is kept (the timerfd, not `epoll_wait`'s
//! millisecond timeout, ends a timed wait). Registration follows `polling`'s
//! flags, plus `EPOLLRDHUP` with read interest: each event says whether the
//! peer hung up ([`SourceEvent::read_closed`]), which lets a short stream read
//! forget read readiness without losing an end of stream that arrived in the
//! same event as the last data (source.rs).

use crate::sys::SourceEvent;
use polling::{Event, PollMode};
use std::io;
use std::os::unix::io::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Key of the wake-up eventfd (`polling` reserves the same value).
const NOTIFY_KEY: u64 = u64::MAX;
/// Key of the timerfd. The reactor's own keys are slab indexes.
const TIMER_KEY: u64 = u64::MAX - 2;
/// `armed` when the timerfd is not armed.
const DISARMED: u64 = u64::MAX;
/// Events collected per wait (as `polling`'s default `Events`).
const CAPACITY: usize = 1024;

/// An epoll instance with its wake-up eventfd and timerfd.
#[derive(Debug)]
pub(crate) struct Poller {
    epoll: OwnedFd,
    eventfd: OwnedFd,
    timerfd: OwnedFd,
    /// A notification is pending (written and not yet seen by a wait).
    notified: AtomicBool,
    /// The deadline the timerfd is armed for, in ns after `base`, or
    /// `DISARMED`. The waiting thread sets it (the reactor lets one thread wait
    /// at a time); `poll_beside` only clears it, after taking the timer's event
    /// (at worst the waiter then arms the same deadline once more), so relaxed
    /// accesses suffice.
    armed: AtomicU64,
    /// An `Instant` and the CLOCK_MONOTONIC reading taken just after it, to
    /// turn deadlines into absolute timerfd times (late by the few ns between
    /// the two readings, never early).
    base: Instant,
    base_ns: u64,
}

/// Readiness events from one wait.
#[derive(Debug)]
pub(crate) struct Events {
    list: Vec<libc::epoll_event>,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A descriptor returned by a successful create call.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: `fd` was just created by the caller's syscall and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// `polling`'s flags for `interest` in `mode`.
fn epoll_flags(interest: &Event, mode: PollMode) -> u32 {
    let mut flags = match mode {
        PollMode::Oneshot => libc::EPOLLONESHOT,
        PollMode::Level => 0,
        PollMode::Edge => libc::EPOLLET,
        PollMode::EdgeOneshot => libc::EPOLLET | libc::EPOLLONESHOT,
        // A mode added to `polling` later: the safe choice re-arms.
        _ => libc::EPOLLONESHOT,
    };
    if interest.readable {
        flags |= READ_FLAGS;
    }
    if interest.writable {
        flags |= WRITE_FLAGS;
    }
    flags as u32
}

const READ_FLAGS: libc::c_int =
    libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI;
/// Reads will not block again: the peer shut its side down, or the socket failed.
const CLOSED_FLAGS: libc::c_int = libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR;
const WRITE_FLAGS: libc::c_int = libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR;

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: these calls take no pointers; errors come back as -1.
        let epoll = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: as above.
        let eventfd = owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: as above.
        let timerfd = owned(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
            )
        })?;
        let base = Instant::now();
        let base_ns = monotonic_ns();
        let poller = Poller {
            epoll,
            eventfd,
            timerfd,
            notified: AtomicBool::new(false),
            armed: AtomicU64::new(DISARMED),
            base,
            base_ns,
        };
        let edge_read = (libc::EPOLLIN | libc::EPOLLET) as u32;
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            poller.eventfd.as_raw_fd(),
            edge_read,
            NOTIFY_KEY,
        )?;
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            poller.timerfd.as_raw_fd(),
            edge_read,
            TIMER_KEY,
        )?;
        Ok(poller)
    }

    /// Edge-triggered registration is available (always, with epoll).
    pub(crate) fn supports_edge(&self) -> bool {
        true
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: key };
        // SAFETY: `ev` is valid for the call; an invalid `fd` makes the call
        // fail (EBADF), epoll never touches the descriptor otherwise.
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) }).map(drop)
    }

    /// Registers `fd` with interest `ev` under `ev.key`.
    ///
    /// # Safety
    ///
    /// `fd` must stay open until it is [`delete`](Poller::delete)d (the
    /// contract of `polling::Poller::add_with_mode`, kept for both backends).
    pub(crate) unsafe fn add_with_mode(
        &self,
        fd: RawFd,
        ev: Event,
        mode: PollMode,
    ) -> io::Result<()> {
        self.ctl(
            libc::EPOLL_CTL_ADD,
            fd,
            epoll_flags(&ev, mode),
            ev.key as u64,
        )
    }

    /// Changes the interest of a registered `fd`.
    pub(crate) fn modify_with_mode(
        &self,
        fd: BorrowedFd<'_>,
        ev: Event,
        mode: PollMode,
    ) -> io::Result<()> {
        self.ctl(
            libc::EPOLL_CTL_MOD,
            fd.as_raw_fd(),
            epoll_flags(&ev, mode),
            ev.key as u64,
        )
    }

    /// Deregisters `fd`.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0)
    }

    /// Wakes the current or the next [`wait`](Poller::wait).
    pub(crate) fn notify(&self) -> io::Result<()> {
        if self.notified.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.write_eventfd().inspect_err(|_| {
            self.notified.store(false, Ordering::SeqCst);
        })
    }

    /// One new edge on the wake-up eventfd.
    fn write_eventfd(&self) -> io::Result<()> {
        let one: u64 = 1;
        loop {
            // SAFETY: writes 8 bytes from `one`, which lives across the call.
            let r = unsafe {
                libc::write(
                    self.eventfd.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => {}
                // The counter is full (after 2^64 - 2 notifications): reset it
                // and write again; the reset is not an event, the write is.
                io::ErrorKind::WouldBlock => {
                    let mut sink: u64 = 0;
                    // SAFETY: reads at most 8 bytes into `sink`.
                    unsafe {
                        libc::read(
                            self.eventfd.as_raw_fd(),
                            (&mut sink as *mut u64).cast(),
                            std::mem::size_of::<u64>(),
                        )
                    };
                }
                _ => return Err(err),
            }
        }
    }

    /// Waits for events, a notification, or `deadline` (`None`: no deadline;
    /// a deadline already past only polls). Returns the number of events.
    /// Only one thread may wait at a time.
    pub(crate) fn wait_until(
        &self,
        events: &mut Events,
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        events.list.clear();
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => match d.checked_duration_since(Instant::now()) {
                None => 0,
                Some(left) if left.is_zero() => 0,
                Some(_) => {
                    self.arm(d)?;
                    -1
                }
            },
        };
        self.epoll_wait(events, timeout_ms)?;
        // Any wait ends the pending notification (as in `polling`): a notify
        // from here on writes again.
        self.notified.store(false, Ordering::SeqCst);
        events.list.retain(|ev| {
            let key = ev.u64;
            if key == TIMER_KEY {
                // It fired and is disarmed (no interval).
                self.armed.store(DISARMED, Ordering::Relaxed);
            }
            key != TIMER_KEY && key != NOTIFY_KEY
        });
        Ok(events.list.len())
    }

    /// A zero-timeout look taken beside the thread that may be blocked in
    /// [`wait_until`](Poller::wait_until) (epoll lets several threads wait on one
    /// instance; each event goes to one of them). The wake-up eventfd and the
    /// timerfd belong to that waiter: if this look takes an event of either, it
    /// passes the wake-up on (a new eventfd edge), so the waiter still returns and
    /// works out its next deadline. Leaves the I/O events in `events`, also when
    /// passing a wake-up on fails; returns whether the timer fired.
    pub(crate) fn poll_beside(&self, events: &mut Events) -> io::Result<bool> {
        self.epoll_wait(events, 0)?;
        let mut timer = false;
        let mut notified = false;
        events.list.retain(|ev| match ev.u64 {
            TIMER_KEY => {
                // It fired and is disarmed: the waiter arms it again.
                self.armed.store(DISARMED, Ordering::Relaxed);
                timer = true;
                false
            }
            NOTIFY_KEY => {
                notified = true;
                false
            }
            _ => true,
        });
        if timer || notified {
            self.write_eventfd()?;
        }
        Ok(timer)
    }

    /// `epoll_wait` into `events` (a signal counts as no events).
    fn epoll_wait(&self, events: &mut Events, timeout_ms: libc::c_int) -> io::Result<()> {
        events.list.clear();
        // SAFETY: the kernel writes at most `capacity` entries into the
        // vector's spare capacity; `set_len` below covers only those.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.list.as_mut_ptr(),
                events.list.capacity() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            // A signal: no events, the caller looks again.
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(err)
            };
        }
        // SAFETY: epoll_wait initialised the first `n` (≤ capacity) entries.
        unsafe { events.list.set_len(n as usize) };
        Ok(())
    }

    /// Makes the timerfd fire at `deadline` or earlier.
    fn arm(&self, deadline: Instant) -> io::Result<()> {
        let offset = deadline.saturating_duration_since(self.base);
        let at = u64::try_from(offset.as_nanos())
            .unwrap_or(u64::MAX)
            .min(1 << 62);
        let armed = self.armed.load(Ordering::Relaxed);
        if armed <= at {
            // Fires no later than needed (early at worst: a spurious wake-up).
            return Ok(());
        }
        let abs = self.base_ns.saturating_add(at);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (abs / 1_000_000_000) as libc::time_t,
                tv_nsec: (abs % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec; the old value is not asked for.
        cvt(unsafe {
            libc::timerfd_settime(
                self.timerfd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        })?;
        self.armed.store(at, Ordering::Relaxed);
        Ok(())
    }
}

impl Events {
    pub(crate) fn new() -> Events {
        Events {
            list: Vec::with_capacity(CAPACITY),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The events, with `polling`'s mapping of epoll flags to directions.
    pub(crate) fn iter(&self) -> impl Iterator<Item = SourceEvent> + '_ {
        self.list.iter().map(|ev| {
            let flags = ev.events as libc::c_int;
            SourceEvent {
                key: ev.u64 as usize,
                readable: flags & READ_FLAGS != 0,
                writable: flags & WRITE_FLAGS != 0,
                read_closed: flags & CLOSED_FLAGS != 0,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::io::AsFd;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;
    use std::time::Duration;

    fn register(p: &Poller, s: &UnixStream, key: usize) {
        // SAFETY: the tests keep `s` open until the poller is dropped.
        unsafe { p.add_with_mode(s.as_raw_fd(), Event::all(key), PollMode::Edge) }.unwrap();
    }

    #[test]
    fn a_past_deadline_only_polls() {
        let p = Poller::new().unwrap();
        let mut evs = Events::new();
        assert_eq!(p.wait_until(&mut evs, Some(Instant::now())).unwrap(), 0);
        assert!(evs.is_empty());
    }

    #[test]
    fn a_timed_wait_ends_at_its_deadline_never_before() {
        let p = Poller::new().unwrap();
        let mut evs = Events::new();
        for ms in [30, 5] {
            // The second, earlier deadline must re-arm the timer.
            let deadline = Instant::now() + Duration::from_millis(ms);
            loop {
                p.wait_until(&mut evs, Some(deadline)).unwrap();
                assert!(evs.is_empty(), "the timer is not reported as an event");
                // A wait may end early only spuriously; the caller waits again.
                if Instant::now() >= deadline {
                    break;
                }
            }
        }
    }

    #[test]
    fn a_later_deadline_keeps_the_earlier_timer_and_still_returns_in_time() {
        let p = Poller::new().unwrap();
        let mut evs = Events::new();
        let early = Instant::now() + Duration::from_millis(5);
        let late = early + Duration::from_millis(20);
        // Arm for `early` without waiting for it (a notification ends the wait).
        p.notify().unwrap();
        p.wait_until(&mut evs, Some(early)).unwrap();
        // Waiting for `late` wakes at `early` (spurious) at worst, then at `late`.
        while Instant::now() < late {
            p.wait_until(&mut evs, Some(late)).unwrap();
        }
        assert!(Instant::now() >= late);
    }

    #[test]
    fn a_look_beside_takes_io_events_and_passes_a_notification_on() -> io::Result<()> {
        let p = Poller::new()?;
        let (a, mut b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        register(&p, &a, 7);
        let mut evs = Events::new();
        p.notify()?;
        b.write_all(b"x")?;
        // The look takes both events: the stream's, and the notification meant for
        // a waiter, which it writes again.
        assert!(!p.poll_beside(&mut evs)?);
        let keys: Vec<usize> = evs.iter().filter(|e| e.readable).map(|e| e.key).collect();
        assert_eq!(keys, [7]);
        let start = Instant::now();
        let far = start + Duration::from_secs(30);
        assert_eq!(p.wait_until(&mut evs, Some(far))?, 0);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the notification was lost"
        );
        Ok(())
    }

    #[test]
    fn a_look_beside_that_takes_the_timer_wakes_the_waiter() -> io::Result<()> {
        let p = Poller::new()?;
        let mut evs = Events::new();
        // Arm the timer for a deadline about to pass, and let it fire.
        p.arm(Instant::now() + Duration::from_millis(5))?;
        std::thread::sleep(Duration::from_millis(20));
        // The look takes the timer's event (reports it, disarms), and wakes the
        // waiter, which would otherwise wait on for a timer that has fired.
        assert!(p.poll_beside(&mut evs)?);
        assert!(evs.is_empty());
        assert_eq!(p.armed.load(Ordering::Relaxed), DISARMED);
        let start = Instant::now();
        p.wait_until(&mut evs, None)?;
        assert!(start.elapsed() < Duration::from_secs(20));
        // Disarmed, so the next wait arms the timer again and ends in time.
        let deadline = Instant::now() + Duration::from_millis(10);
        while Instant::now() < deadline {
            p.wait_until(&mut evs, Some(deadline))?;
        }
        Ok(())
    }

    #[test]
    fn a_look_beside_a_blocked_waiter_leaves_it_waiting_for_later_events() -> io::Result<()> {
        let p = Arc::new(Poller::new()?);
        let (a, mut b) = UnixStream::pair()?;
        a.set_nonblocking(true)?;
        register(&p, &a, 3);
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || -> io::Result<usize> {
            let mut evs = Events::new();
            let mut readable = 0;
            // Counts what it is given until the deadline.
            let deadline = Instant::now() + Duration::from_millis(300);
            while Instant::now() < deadline {
                p2.wait_until(&mut evs, Some(deadline))?;
                readable += evs.iter().filter(|e| e.readable).count();
            }
            Ok(readable)
        });
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"x")?;
        let mut evs = Events::new();
        assert!(!p.poll_beside(&mut evs)?);
        let looked = evs.iter().filter(|e| e.readable).count();
        let waited = waiter
            .join()
            .map_err(|_| io::Error::other("the waiting thread panicked"))??;
        // The arrival went to the look, to the waiter, or (if the kernel reported
        // two edges) to both: never to neither, and the waiter never stopped.
        assert!(looked + waited >= 1, "look {looked}, waiter {waited}");
        Ok(())
    }

    #[test]
    fn notify_wakes_a_waiter_in_another_thread_and_is_sticky() {
        let p = Arc::new(Poller::new().unwrap());
        let mut evs = Events::new();
        // Before the wait: the next wait returns at once, once.
        p.notify().unwrap();
        p.notify().unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(p.wait_until(&mut evs, Some(far)).unwrap(), 0);
        assert_eq!(p.wait_until(&mut evs, Some(Instant::now())).unwrap(), 0);
        // During a wait with no deadline.
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            p2.notify().unwrap();
        });
        assert_eq!(p.wait_until(&mut evs, None).unwrap(), 0);
        t.join().unwrap();
        // And again: every wait-notify round trip works (edge-triggered eventfd).
        for _ in 0..100 {
            p.notify().unwrap();
            p.wait_until(&mut evs, Some(far)).unwrap();
        }
    }

    #[test]
    fn edge_registration_reports_each_new_arrival_with_its_key_and_direction() {
        let p = Poller::new().unwrap();
        let mut evs = Events::new();
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        register(&p, &a, 7);
        // Writable at once.
        let soon = || Some(Instant::now() + Duration::from_secs(10));
        p.wait_until(&mut evs, soon()).unwrap();
        let ev: Vec<_> = evs.iter().collect();
        assert_eq!(ev.len(), 1);
        assert_eq!(
            (ev[0].key, ev[0].readable, ev[0].writable),
            (7, false, true)
        );
        // Nothing new: an edge is reported once.
        assert_eq!(p.wait_until(&mut evs, Some(Instant::now())).unwrap(), 0);
        // Each arrival is a new event, even with earlier data unread.
        for _ in 0..2 {
            (&b).write_all(b"x").unwrap();
            p.wait_until(&mut evs, soon()).unwrap();
            let ev: Vec<_> = evs.iter().collect();
            assert_eq!(ev.len(), 1);
            assert!(ev[0].key == 7 && ev[0].readable);
        }
        let fd = a.as_fd();
        p.modify_with_mode(fd, Event::none(7), PollMode::Oneshot)
            .unwrap();
        p.delete(fd).unwrap();
        assert!(p.delete(fd).is_err(), "deleting twice is an error (ENOENT)");
    }
}
