//! [`block_on`]: run a future on the current thread, driving the reactor while
//! it waits.

use crate::reactor::Reactor;
use crate::sync::{Arc, AtomicBool, Ordering};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

/// The waker of one `block_on` call.
struct Signal {
    /// Set by `wake`, consumed by the blocked thread.
    woken: AtomicBool,
    /// The blocked thread is (about to be) inside `try_drive`: wake it with
    /// `Reactor::notify` rather than `unpark`.
    in_poller: AtomicBool,
    thread: Thread,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            if self.in_poller.load(Ordering::SeqCst) {
                // Woken by the driver on its own thread (an I/O event for this
                // future): try_drive returns right after, no syscall needed.
                if thread::current().id() != self.thread.id() {
                    Reactor::get().notify();
                }
            } else {
                self.thread.unpark();
            }
        }
    }
}

/// Runs `future` to completion on the current thread, waiting in the reactor
/// (I/O and timers) while the future is pending: like `async_io::block_on`.
///
/// While inside `block_on` the thread is a registered driver (see
/// [`Reactor::register_driver`]): it waits in the poller itself, so wake-ups
/// from its own sockets and timers need no other thread. If another thread is
/// driving, it parks until woken or until that thread stops driving, then takes
/// over.
///
/// ```
/// use corio_reactor::{block_on, timer::sleep};
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let v = block_on(async {
///     sleep(Duration::from_millis(5)).await;
///     42
/// });
/// assert_eq!(v, 42);
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let reactor = Reactor::get();
    let _guard = reactor.register_driver();
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        in_poller: AtomicBool::new(false),
        thread: thread::current(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        // Wait for a wake-up, driving the reactor meanwhile.
        while !signal.woken.swap(false, Ordering::SeqCst) {
            signal.in_poller.store(true, Ordering::SeqCst);
            if signal.woken.load(Ordering::SeqCst) {
                signal.in_poller.store(false, Ordering::SeqCst);
                continue;
            }
            // The flag again under the driver lock: a notification sent while
            // another thread drove woke that thread, not this one.
            let drove = reactor.try_drive_unless(None, || signal.woken.load(Ordering::SeqCst));
            signal.in_poller.store(false, Ordering::SeqCst);
            match drove {
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    // The poller failed (very rare: out of memory); back off.
                    eprintln!("corio-reactor: block_on: poller wait failed: {e}; retrying");
                    thread::sleep(Duration::from_millis(1));
                }
                None => {
                    if !signal.woken.load(Ordering::SeqCst) {
                        // Another thread drives and will wake us (unpark), or
                        // unpark us when it stops driving so we take over.
                        reactor.park_until_driver_free(Duration::from_millis(50));
                    }
                }
            }
        }
    }
}
