//! The hang-up watch: learns when a peer shut its side of a stream down, so
//! that a short read may forget read readiness without losing end of stream.
//!
//! A read that fills less than the buffer drained the socket, so the next read
//! would only get `EAGAIN`; forgetting the readiness saves that system call
//! (one per request/response). In edge mode that is safe for new *data*: the
//! kernel reports every arrival. It is not safe for the peer's FIN on its own:
//! when data and FIN arrive before the driver collects them, epoll reports one
//! merged event, the short read takes the data, and nothing would ever report
//! the end of stream still waiting behind it. `polling` does not register
//! `EPOLLRDHUP`, so the reactor keeps a second, private epoll set holding only
//! `EPOLLRDHUP` interest for the streams that had a short read, itself
//! registered (level-triggered) in the main poller under [`HUP_KEY`]. Data
//! arrivals never wake it (their wake-up mask has no `EPOLLRDHUP`); a FIN, a
//! reset or an error does, once per connection, and the driver then marks the
//! source's read side closed for good (see `Source::read_closed`).
//!
//! Linux and Android only; elsewhere [`HupWatch::new`] returns `None` and short
//! reads keep their readiness (one extra `EAGAIN` per read, as before).

use crate::sys::Poller;
use std::io;
use std::os::unix::io::RawFd;

/// The main poller's key for the hang-up set (polling reserves `usize::MAX`).
pub(crate) const HUP_KEY: usize = usize::MAX - 1;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use linux::HupWatch;

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use other::HupWatch;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use super::*;
    use polling::{Event, PollMode};
    use std::os::unix::io::{AsRawFd, FromRawFd, OwnedFd};

    /// The private epoll set of `EPOLLRDHUP` interests (see the module doc).
    #[derive(Debug)]
    pub(crate) struct HupWatch {
        ep: OwnedFd,
    }

    impl HupWatch {
        /// Creates the set and registers it in `poller`; `None` if the OS
        /// refuses (the reactor then works without the short-read saving).
        pub(crate) fn new(poller: &Poller) -> Option<HupWatch> {
            // SAFETY: epoll_create1 takes no pointers; a negative result is an error.
            let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            // SAFETY: `fd` was just returned by epoll_create1 and nothing else owns it.
            let ep = unsafe { OwnedFd::from_raw_fd(fd) };
            // SAFETY: `ep` lives in the HupWatch, which lives in the process-wide
            // reactor next to `poller`, so it stays open while registered.
            let added = unsafe {
                poller.add_with_mode(ep.as_raw_fd(), Event::readable(HUP_KEY), PollMode::Level)
            };
            added.ok().map(|()| HupWatch { ep })
        }

        /// Starts watching stream `fd` (reactor key `key`) for a hang-up. A
        /// hang-up that already happened is reported too: EPOLL_CTL_ADD checks
        /// the current state.
        pub(crate) fn watch(&self, fd: RawFd, key: usize) -> io::Result<()> {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLRDHUP | libc::EPOLLET) as u32,
                u64: key as u64,
            };
            // SAFETY: `ev` is a valid epoll_event for the duration of the call;
            // the caller keeps `fd` open until `unwatch`.
            let r =
                unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
            if r < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Stops watching `fd` (before it is closed, so a reused key is never
        /// reported for a stale descriptor).
        pub(crate) fn unwatch(&self, fd: RawFd) {
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: as in `watch`; a descriptor that is not in the set only
            // makes the call fail with ENOENT, which is ignored.
            unsafe { libc::epoll_ctl(self.ep.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
        }

        /// Collects (without blocking) the keys of the streams that hung up.
        pub(crate) fn drain(&self, out: &mut Vec<usize>) {
            const BATCH: usize = 64;
            let mut evs = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
            loop {
                // SAFETY: `evs` holds BATCH writable entries; timeout 0 never blocks.
                let n = unsafe {
                    libc::epoll_wait(self.ep.as_raw_fd(), evs.as_mut_ptr(), BATCH as i32, 0)
                };
                if n <= 0 {
                    // Empty, or EINTR: the level-triggered registration reports
                    // anything left on the next drive.
                    return;
                }
                out.extend(evs[..n as usize].iter().map(|e| e.u64 as usize));
                if (n as usize) < BATCH {
                    return;
                }
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod other {
    use super::*;

    /// No hang-up watch on this OS (see the module doc).
    #[derive(Debug)]
    pub(crate) struct HupWatch {
        _never: std::convert::Infallible,
    }

    impl HupWatch {
        pub(crate) fn new(_poller: &Poller) -> Option<HupWatch> {
            None
        }
        pub(crate) fn watch(&self, _fd: RawFd, _key: usize) -> io::Result<()> {
            match self._never {}
        }
        pub(crate) fn unwatch(&self, _fd: RawFd) {
            match self._never {}
        }
        pub(crate) fn drain(&self, _out: &mut Vec<usize>) {
            match self._never {}
        }
    }
}
