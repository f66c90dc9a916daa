//! The monitor thread: one per pool while it has workers. It notices a worker
//! that dies while idle the moment it dies (a pidfd per worker on Linux; a
//! non-reaping `waitid` every [`FALLBACK_PROBE`] elsewhere), takes it off the
//! live list and wakes its driver, which reaps and replaces it. After a shutdown
//! it enforces the grace period: when it runs out, every worker still alive is
//! killed and calls still queued fail with a [cancelled](BlockingError::is_cancelled) error.
//!
//! The monitor never reaps: a pid stays the driver's until the driver forgets it
//! (see `child.rs`), so the monitor can never signal a recycled pid.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use super::{expire_grace, sys, Shared};
use crate::error::BlockingError;
use crate::sync::lock;

/// How often pids without a pidfd are checked.
const FALLBACK_PROBE: Duration = Duration::from_millis(100);

pub(super) fn monitor(shared: StdArc<Shared>) {
    // pid -> its pidfd (None: no pidfds here, probe instead).
    let mut watched: HashMap<u32, Option<OwnedFd>> = HashMap::new();
    // Started only when the pool has its wake-up socket.
    let Some((_, rx)) = &shared.wake else {
        lock(&shared.state).monitor_running = false;
        return;
    };
    let mut wake = rx;
    loop {
        let deadline = {
            let mut st = lock(&shared.state);
            if st.shutdown && st.counts.threads == 0 {
                st.monitor_running = false;
                return;
            }
            watched.retain(|pid, _| st.pids.contains(pid));
            for &pid in &st.pids {
                // Opened under the lock: a listed pid is not reaped yet.
                watched.entry(pid).or_insert_with(|| sys::pidfd_open(pid));
            }
            if st.shutdown && !st.grace_expired {
                st.grace_deadline
            } else {
                None
            }
        };
        let probing = watched.values().any(Option::is_none);
        let wake_at = match (deadline, probing) {
            (Some(d), true) => Some(d.min(Instant::now() + FALLBACK_PROBE)),
            (Some(d), false) => Some(d),
            (None, true) => Some(Instant::now() + FALLBACK_PROBE),
            (None, false) => None,
        };
        let mut fds = vec![sys::pollfd(wake.as_raw_fd(), libc::POLLIN)];
        let mut pids = Vec::new();
        for (&pid, fd) in &watched {
            if let Some(fd) = fd {
                fds.push(sys::pollfd(fd.as_raw_fd(), libc::POLLIN));
                pids.push(pid);
            }
        }
        if sys::poll(&mut fds, wake_at).is_err() {
            // Nothing sensible to do but not spin.
            std::thread::sleep(FALLBACK_PROBE);
        }
        let mut drain = [0u8; 64];
        while matches!(wake.read(&mut drain), Ok(n) if n > 0) {}

        let mut st = lock(&shared.state);
        let mut died = false;
        for (pfd, pid) in fds[1..].iter().zip(&pids) {
            if pfd.revents != 0 {
                died |= mark_dead(&mut st, *pid);
            }
        }
        for (&pid, fd) in &watched {
            if fd.is_none() && st.pids.contains(&pid) && sys::child_has_exited(pid) {
                died |= mark_dead(&mut st, pid);
            }
        }
        let expired = deadline.is_some_and(|d| Instant::now() >= d);
        let cancelled = if expired {
            expire_grace(&mut st)
        } else {
            Vec::new()
        };
        drop(st);
        if died {
            shared.work.notify_all();
        }
        for call in cancelled {
            call.reply.complete(Err(BlockingError::cancelled()));
        }
    }
}

/// Takes a dead worker off the live list and marks it for its driver.
fn mark_dead(st: &mut super::State, pid: u32) -> bool {
    let listed = st.pids.contains(&pid);
    if listed {
        st.pids.retain(|&p| p != pid);
        st.dead.push(pid);
    }
    listed
}
