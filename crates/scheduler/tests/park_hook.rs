//! The park hook: one worker at a time waits in it, it is unparked when work arrives,
//! busy workers poll it.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{with_timeout, yield_now};
use corio_scheduler::{Builder, Executor, Park};
use futures::channel::mpsc;
use futures::StreamExt;

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
    looks: AtomicUsize,
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

    fn poll_beside(&self) {
        self.looks.fetch_add(1, SeqCst);
    }
}

/// An executor of `workers` threads with a fresh [`TestHook`].
fn executor_with_hook(workers: usize) -> (Arc<TestHook>, Executor) {
    let hook = Arc::new(TestHook::default());
    let ex = Builder::new()
        .worker_threads(workers)
        .park_hook(hook.clone())
        .build()
        .unwrap();
    (hook, ex)
}

#[test]
fn one_worker_at_a_time_in_the_hook_and_work_wakes_it() {
    with_timeout(60, || {
        let (hook, ex) = executor_with_hook(4);
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
        let (hook, ex) = executor_with_hook(1);
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

/// Two tasks that wake each other forever run through the LIFO slot: the worker still
/// polls the hook every 61 ticks.
#[test]
fn a_ping_pong_through_the_lifo_slot_still_polls_the_hook() {
    with_timeout(60, || {
        let (hook, ex) = executor_with_hook(1);
        let stop = Arc::new(AtomicBool::new(false));
        let (a_tx, mut a_rx) = mpsc::unbounded::<()>();
        let (b_tx, mut b_rx) = mpsc::unbounded::<()>();
        let (s1, s2) = (stop.clone(), stop.clone());
        let b_tx2 = b_tx.clone();
        let a = ex.spawn(async move {
            while a_rx.next().await.is_some() && !s1.load(Relaxed) {
                let _ = b_tx2.unbounded_send(());
            }
        });
        let b = ex.spawn(async move {
            while b_rx.next().await.is_some() && !s2.load(Relaxed) {
                let _ = a_tx.unbounded_send(());
            }
        });
        let _ = b_tx.unbounded_send(());
        // Every wait below is bounded by `with_timeout`.
        while hook.polls.load(SeqCst) < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Relaxed);
        let _ = b_tx.unbounded_send(());
        drop(b_tx);
        ex.block_on(async {
            a.await.unwrap();
            b.await.unwrap();
        });
    });
}

/// Two idle workers: one waits in the hook, and the other, finding it taken, looks
/// beside it before it sleeps on its own parker (that look delivers events the
/// hook's holder was woken for but cannot deliver while it waits for a CPU).
#[test]
fn an_idle_worker_that_finds_the_hook_taken_looks_beside_it() {
    with_timeout(60, || {
        let (hook, ex) = executor_with_hook(2);
        assert_eq!(ex.block_on(async { 7 }), 7);
        // Every wait below is bounded by `with_timeout`.
        while hook.inside.load(SeqCst) == 0 || hook.looks.load(SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(hook.max_inside.load(SeqCst), 1);
    });
}
