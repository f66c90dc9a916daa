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
