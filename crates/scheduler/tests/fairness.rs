//! Fairness: the LIFO slot's anti-ping-pong guard, self-waking tasks and tasks woken by a
//! finished child going to the back of the queue, the injector checked while the local
//! queue is busy, and the LIFO slot of a worker stuck in a long poll (or waiting for its
//! CPU) being stolen.

// The tests return a Task from a task on purpose, to await it from outside.
#![allow(clippy::async_yields_async)]

mod common;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::Arc;

use common::{with_timeout, yield_now};
use corio_scheduler::{Builder, Handle};
use futures::channel::mpsc;
use futures::StreamExt;

/// Two tasks that wake each other forever (each wake lands in the LIFO slot) cannot
/// starve a third task on the same (single) worker.
#[test]
fn ping_pong_pair_does_not_starve_the_queue() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (a_tx, mut a_rx) = mpsc::unbounded::<()>();
        let (b_tx, mut b_rx) = mpsc::unbounded::<()>();
        let (s1, s2) = (stop.clone(), stop.clone());
        let b_tx2 = b_tx.clone();
        ex.spawn(async move {
            while a_rx.next().await.is_some() {
                if s1.load(Relaxed) {
                    break;
                }
                let _ = b_tx2.unbounded_send(());
            }
        });
        ex.spawn(async move {
            while b_rx.next().await.is_some() {
                if s2.load(Relaxed) {
                    break;
                }
                let _ = a_tx.unbounded_send(());
            }
        });
        // Start the ping-pong from inside the worker, then queue a third task behind it.
        let third = ex.block_on(ex.spawn({
            let b_tx = b_tx.clone();
            async move {
                let _ = b_tx.unbounded_send(());
                Handle::try_current().unwrap().spawn(async { "third ran" })
            }
        }));
        let third = third.unwrap();
        assert_eq!(ex.block_on(third).unwrap(), "third ran");
        stop.store(true, Relaxed);
        let _ = b_tx.unbounded_send(());
    });
}

/// A task that yields forever (woken while running: back of the queue, never the slot)
/// does not starve the others.
#[test]
fn endless_yielder_does_not_starve() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let inner = ex.block_on(ex.spawn(async move {
            let handle = Handle::try_current().unwrap();
            handle.spawn(async move {
                while !s.load(Relaxed) {
                    yield_now().await;
                }
            });
            handle.spawn(async { 5 })
        }));
        assert_eq!(ex.block_on(inner.unwrap()).unwrap(), 5);
        stop.store(true, Relaxed);
    });
}

/// A task that awaits its children in turn is woken by each finish behind the children
/// still queued (not in the LIFO slot, to run between every two of them): on one worker
/// it resumes about once for the whole batch, not once per child.
#[test]
fn a_task_awaiting_its_children_resumes_after_the_queued_ones() {
    const CHILDREN: usize = 200;
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let parent_polls = ex
            .block_on(ex.spawn(async {
                let handle = Handle::try_current().unwrap();
                let children: Vec<_> = (0..CHILDREN)
                    .map(|i| handle.spawn(async move { i }))
                    .collect();
                let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let counted = polls.clone();
                let mut children = children.into_iter().enumerate().peekable();
                std::future::poll_fn(move |cx| {
                    counted.fetch_add(1, Relaxed);
                    while let Some((i, child)) = children.peek_mut() {
                        match std::pin::Pin::new(child).poll(cx) {
                            std::task::Poll::Ready(out) => {
                                assert_eq!(out.unwrap(), *i);
                                children.next();
                            }
                            std::task::Poll::Pending => return std::task::Poll::Pending,
                        }
                    }
                    std::task::Poll::Ready(())
                })
                .await;
                polls.load(Relaxed)
            }))
            .unwrap();
        // Woken into the LIFO slot it would run after every child: about CHILDREN polls.
        assert!(
            parent_polls < CHILDREN / 4,
            "the parent was polled {parent_polls} times for {CHILDREN} children"
        );
    });
}

/// A worker whose local tasks keep spawning local tasks forever still runs a task
/// spawned from outside (the injector is checked every 61 ticks).
#[test]
fn injector_is_checked_while_local_queue_is_busy() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        fn respawn(handle: Handle, stop: Arc<AtomicBool>) {
            if stop.load(Relaxed) {
                return;
            }
            let h = handle.clone();
            handle.spawn(async move { respawn(h, stop) });
        }
        let (handle, s) = (ex.handle().clone(), stop.clone());
        ex.spawn(async move {
            // Two chains so the local queue (not only the LIFO slot) is never empty.
            respawn(handle.clone(), s.clone());
            respawn(handle, s);
        });
        let outside = ex.spawn(async { "outside ran" });
        assert_eq!(ex.block_on(outside).unwrap(), "outside ran");
        stop.store(true, Relaxed);
    });
}

/// tokio#4941: task A wakes B (B goes to A's worker's LIFO slot), then A blocks its
/// worker until B has run. B must be stolen from the slot by the other worker.
#[test]
fn lifo_slot_of_a_stuck_worker_is_stolen() {
    with_timeout(30, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        for _ in 0..20 {
            let b_ran = Arc::new(AtomicBool::new(false));
            let flag = b_ran.clone();
            let a = ex.spawn(async move {
                let handle = Handle::try_current().unwrap();
                let f = flag.clone();
                handle.spawn(async move { f.store(true, Release) });
                // Block this worker (a long poll) until B ran elsewhere.
                while !flag.load(Acquire) {
                    std::thread::yield_now();
                }
            });
            ex.block_on(a).unwrap();
            assert!(b_ran.load(Acquire));
        }
    });
}

/// The case above on an oversubscribed CPU: the stuck worker's thread shares CPU 0
/// with a busy thread and gives the CPU away in its loop, so it is mostly waiting for
/// the CPU, which the stall monitor does not count as a stall (the thread is not
/// running its poll). B waits in the slot all the same and must be taken by the other
/// worker a few monitor ticks after the threshold, not once the stuck thread has
/// finally run for the threshold (seconds here: its CPU share is a few microseconds
/// per time slice of the busy thread).
#[cfg(target_os = "linux")]
#[test]
fn lifo_slot_of_a_worker_waiting_for_its_cpu_is_stolen() {
    use std::time::{Duration, Instant};

    with_timeout(60, || {
        let ex = Builder::new()
            .worker_threads(2)
            .stall_threshold(Some(Duration::from_millis(10)))
            .build()
            .unwrap();
        for round in 0..5 {
            let stop = Arc::new(AtomicBool::new(false));
            let busy = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let _pinned = PinnedToCpu0::new();
                    while !stop.load(Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            };
            let b_ran = Arc::new(AtomicBool::new(false));
            let flag = b_ran.clone();
            let a = ex.spawn(async move {
                let _pinned = PinnedToCpu0::new();
                let handle = Handle::try_current().unwrap();
                let f = flag.clone();
                let start = Instant::now();
                handle.spawn(async move { f.store(true, Release) });
                while !flag.load(Acquire) {
                    std::thread::yield_now();
                }
                start.elapsed()
            });
            let waited = ex.block_on(a).unwrap();
            stop.store(true, Relaxed);
            busy.join().unwrap();
            assert!(b_ran.load(Acquire));
            assert!(
                waited < Duration::from_secs(3),
                "round {round}: B waited {waited:?} in the LIFO slot of a worker whose thread \
                 waited for its CPU (the monitor's threshold is 10 ms)"
            );
        }
    });
}

/// Pins the calling thread to CPU 0 until dropped, then restores its CPU set. If the
/// affinity cannot be changed (a restricted sandbox), does nothing.
#[cfg(target_os = "linux")]
struct PinnedToCpu0 {
    saved: Option<libc::cpu_set_t>,
}

#[cfg(target_os = "linux")]
impl PinnedToCpu0 {
    fn new() -> PinnedToCpu0 {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `cpu_set_t` is plain data (all zeros is an empty set); the calls get a
        // pointer to a set of the size they are told, for the calling thread (pid 0).
        unsafe {
            let mut saved: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, size, &mut saved) != 0 {
                return PinnedToCpu0 { saved: None };
            }
            let mut only0: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut only0);
            if libc::sched_setaffinity(0, size, &only0) != 0 {
                return PinnedToCpu0 { saved: None };
            }
            PinnedToCpu0 { saved: Some(saved) }
        }
    }
}

#[cfg(target_os = "linux")]
impl Drop for PinnedToCpu0 {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: as in `new`: a set of the size given, for the calling thread.
            unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), saved) };
        }
    }
}
