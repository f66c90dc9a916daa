//! [`Event`]: asyncio's `Event`.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::loom_shim::{lock, Mutex};
use super::waitlist::{WaitKey, WaitList, WakeList};

/// A flag that tasks can wait for: [`set`](Self::set) wakes every waiter,
/// [`clear`](Self::clear) resets it, [`wait`](Self::wait) returns at once while it
/// is set.
///
/// As in asyncio, a waiter woken by `set` returns even if `clear` runs before
/// it gets to run.
///
/// ```
/// use std::sync::Arc;
/// use corio::sync::Event;
/// let ev = Arc::new(Event::new());
/// let ev2 = ev.clone();
/// let t = std::thread::spawn(move || futures::executor::block_on(ev2.wait()));
/// ev.set();
/// t.join().unwrap();
/// assert!(ev.is_set());
/// ev.clear();
/// assert!(!ev.is_set());
/// ```
pub struct Event {
    state: Mutex<EventState>,
}

struct EventState {
    set: bool,
    waiters: WaitList<()>,
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Self {
        Event {
            state: Mutex::new(EventState {
                set: false,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let mut wakes = WakeList::new();
        {
            let mut st = lock(&self.state);
            st.set = true;
            st.waiters.notify_all(|| (), &mut wakes);
        }
        wakes.wake();
    }

    /// Clears the flag: later `wait` calls wait again.
    pub fn clear(&self) {
        lock(&self.state).set = false;
    }

    /// True while the flag is set.
    pub fn is_set(&self) -> bool {
        lock(&self.state).set
    }

    /// Waits until the flag is set (returns at once if it is). Cancellation-safe.
    #[track_caller]
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
            at: Location::caller(),
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = lock(&self.state);
        f.debug_struct("Event")
            .field("set", &st.set)
            .field("waiters", &st.waiters.pending_len())
            .finish()
    }
}

/// Future returned by [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<WaitKey>,
    /// The caller's line: the task tree's await point while this waits.
    at: &'static Location<'static>,
}

impl Future for EventWait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at = self.at;
        crate::tree::pending_at(self.poll_wait(cx), at)
    }
}

impl EventWait<'_> {
    fn poll_wait(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if crate::cancel::is_cancelled() {
            // A cancelled task stops waiting, as `sleep` does: leave the queue.
            self.leave();
            return Poll::Ready(());
        }
        let mut st = lock(&self.event.state);
        match self.key {
            None => {
                if st.set {
                    return Poll::Ready(());
                }
                let key = st.waiters.register(cx.waker());
                drop(st);
                self.key = Some(key);
                Poll::Pending
            }
            Some(key) => {
                let r = st.waiters.poll(key, cx.waker());
                drop(st);
                if r.is_ready() {
                    self.key = None;
                }
                r
            }
        }
    }
}

impl EventWait<'_> {
    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            // Nothing to pass on: every waiter is woken by `set` anyway.
            let _ = lock(&self.event.state).waiters.cancel(key);
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}
