//! The park hook: one worker at a time waits in it, it is unparked when work arrives,
//! busy workers poll it.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{with_timeout, yield_now};
use corio_scheduler::{Builder, Park};

/// A hook that blocks on a condvar with a sticky notification, and records how many
/// threads are inside at once.
#[derive(Default)]
struct TestHook {
    notified: Mutex<bool>,
    cv: Condvar,
    inside: AtomicUsize,
    max_inside: AtomicUsize,
    parks: AtomicUsize,
    polls: AtomicUsize,
}

impl Park for TestHook {
    fn park(&self, timeout: Option<Duration>) -> bool {
        let now = self.inside.fetch_add(1, SeqCst) + 1;
        self.max_inside.fetch_max(now, SeqCst);
        self.parks.fetch_add(1, SeqCst);
        let mut notified = self.notified.lock().unwrap();
        while !*notified {
            match timeout {
                Some(t) => {
                    notified = self.cv.wait_timeout(notified, t).unwrap().0;
                    break;
                }
                None => notified = self.cv.wait(notified).unwrap(),
            }
        }
        *notified = false;
        drop(notified);
        self.inside.fetch_sub(1, SeqCst);
        true
    }

    fn unpark(&self) {
        *self.notified.lock().unwrap() = true;
        self.cv.notify_all();
    }

    fn poll_ready(&self) {
        self.polls.fetch_add(1, SeqCst);
    }
}

#[test]
fn one_worker_at_a_time_in_the_hook_and_work_wakes_it() {
    with_timeout(60, || {
        let hook = Arc::new(TestHook::default());
        let ex = Builder::new()
            .worker_threads(4)
            .park_hook(hook.clone())
            .build()
            .unwrap();
        for round in 0..200 {
            // Let the workers go idle now and then, so one parks in the hook.
            if round % 20 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            let t = ex.spawn(async move { round * 2 });
            assert_eq!(ex.block_on(t).unwrap(), round * 2);
        }
        // Idle workers park in the hook; under load they may not have got there
        // during the short pauses above, but they do once all work is done.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while hook.parks.load(SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            hook.parks.load(SeqCst) > 0,
            "no idle worker used the hook within 30 s"
        );
        assert_eq!(
            hook.max_inside.load(SeqCst),
            1,
            "never two workers in the hook"
        );
        drop(ex);
        assert_eq!(hook.inside.load(SeqCst), 0, "shutdown unparked the hook");
    });
}

#[test]
fn busy_workers_poll_the_hook() {
    with_timeout(60, || {
        let hook = Arc::new(TestHook::default());
        let ex = Builder::new()
            .worker_threads(1)
            .park_hook(hook.clone())
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                ex.spawn(async {
                    for _ in 0..100 {
                        yield_now().await;
                    }
                })
            })
            .collect();
        ex.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        // 1,000+ polls on one worker: at least one poll_ready every 61 ticks.
        assert!(
            hook.polls.load(SeqCst) >= 1000 / 61,
            "polls: {}",
            hook.polls.load(SeqCst)
        );
    });
}

/// A stand-in for a reactor: tasks wait for an "event" whose waker the hook keeps;
/// `poll_ready` and `park` deliver the events that are ready, as a reactor's
/// zero-timeout and blocking polls do.
#[derive(Default)]
struct EventHook {
    waiting: Mutex<Vec<std::task::Waker>>,
    notified: Mutex<bool>,
    cv: Condvar,
    /// Events delivered by `poll_ready` (the worker never blocked for them).
    polled: AtomicUsize,
    /// Events delivered by `park` (the worker blocked in the hook with them ready).
    parked: AtomicUsize,
}

impl EventHook {
    fn deliver(&self) -> usize {
        let wakers = std::mem::take(&mut *self.waiting.lock().unwrap());
        let n = wakers.len();
        for w in wakers {
            w.wake();
        }
        n
    }
}

impl Park for EventHook {
    fn park(&self, timeout: Option<Duration>) -> bool {
        let n = self.deliver();
        if n > 0 {
            self.parked.fetch_add(n, SeqCst);
            return true;
        }
        // Nothing ready: block until unparked (or 10 ms, so an event registered
        // meanwhile is still delivered if nobody unparks).
        let wait = timeout.map_or(Duration::from_millis(10), |t| {
            t.min(Duration::from_millis(10))
        });
        let mut notified = self.notified.lock().unwrap();
        if !*notified {
            notified = self.cv.wait_timeout(notified, wait).unwrap().0;
        }
        *notified = false;
        true
    }

    fn unpark(&self) {
        *self.notified.lock().unwrap() = true;
        self.cv.notify_all();
    }

    fn poll_ready(&self) {
        let n = self.deliver();
        self.polled.fetch_add(n, SeqCst);
    }
}

/// Pending once, with its waker left in the hook as an event that is ready at once
/// (a socket whose next request has already arrived).
struct ReadyEvent {
    hook: Arc<EventHook>,
    registered: bool,
}

impl std::future::Future for ReadyEvent {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.registered {
            return std::task::Poll::Ready(());
        }
        self.registered = true;
        self.hook.waiting.lock().unwrap().push(cx.waker().clone());
        std::task::Poll::Pending
    }
}

#[test]
fn a_spinning_worker_polls_the_hook_instead_of_blocking_in_it() {
    with_timeout(60, || {
        let hook = Arc::new(EventHook::default());
        let ex = Builder::new()
            .worker_threads(1)
            .park_hook(hook.clone())
            .build()
            .unwrap();
        const EVENTS: usize = 200;
        let h = hook.clone();
        let task = ex.spawn(async move {
            for _ in 0..EVENTS {
                ReadyEvent {
                    hook: h.clone(),
                    registered: false,
                }
                .await;
            }
        });
        ex.block_on(task).unwrap();
        let polled = hook.polled.load(SeqCst);
        let parked = hook.parked.load(SeqCst);
        assert_eq!(polled + parked, EVENTS, "every event was delivered once");
        // Each time the task waits, its event is ready: the worker, out of tasks,
        // finds it with a poll of the hook while it spins (the spin budget is only
        // cut by spins that found nothing, and these all find something), rather
        // than by blocking in the hook. A few may go to a park (a worker that found
        // nothing while starting up spins less); most must not.
        assert!(
            polled > EVENTS / 2,
            "only {polled} of {EVENTS} ready events were found by polling the hook; \
             {parked} waited for the worker to block in it"
        );
    });
}
