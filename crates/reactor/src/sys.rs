//! The OS poller the reactor waits in: the reactor's own epoll backend on Linux
//! and Android (see epoll.rs: one system call per wait), `polling` elsewhere.
//! Both take a deadline, so a wait for the next timer names the same instant
//! every time.

use std::io;
use std::time::Instant;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use crate::epoll::{Events, Poller};

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) use polling::{Events, Poller};

/// One event as the driver consumes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SourceEvent {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer hung up or the socket failed (only where
    /// [`REPORTS_READ_CLOSED`]; always false elsewhere).
    pub(crate) read_closed: bool,
}

/// The backend reports hang-ups with each event (epoll's `EPOLLRDHUP`), so a
/// short stream read may forget read readiness in edge mode (source.rs).
/// `polling`'s other backends do not.
pub(crate) const REPORTS_READ_CLOSED: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// [`poll_beside`] works: the poller can be asked while another thread waits in it.
pub(crate) const CAN_POLL_BESIDE: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// A zero-timeout look beside the waiting thread (see `Poller::poll_beside` in
/// epoll.rs): the I/O events go to `events`; returns whether the timer fired.
/// Elsewhere no events.
pub(crate) fn poll_beside(poller: &Poller, events: &mut Events) -> io::Result<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        poller.poll_beside(events)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (poller, events);
        Ok(false)
    }
}

/// The events of the last wait.
pub(crate) fn hits(events: &Events) -> impl Iterator<Item = SourceEvent> + '_ {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        events.iter()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        events.iter().map(|e| SourceEvent {
            key: e.key,
            readable: e.readable,
            writable: e.writable,
            read_closed: false,
        })
    }
}

/// Waits in `poller` until events, a notification or `deadline` (`None`: no
/// deadline; a past deadline only polls).
pub(crate) fn wait_until(
    poller: &Poller,
    events: &mut Events,
    deadline: Option<Instant>,
) -> io::Result<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        poller.wait_until(events, deadline)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        poller.wait(events, timeout).map(|_| events.len())
    }
}
