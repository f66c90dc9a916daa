//! Loom models of the scheduler's protocols (run by `ci/loom.sh`, `--cfg loom`).
//!
//! Under loom the crate's `sync` module swaps crossbeam's deque and parker for
//! loom-visible stand-ins, so these models run the *real* worker loop, spawn path,
//! park/unpark and shutdown code with every interleaving loom explores
//! (`LOOM_MAX_PREEMPTIONS=2` in CI).
#![cfg(loom)]

use std::sync::atomic::Ordering::SeqCst;

use corio_scheduler::loom_model::Idle;
use corio_scheduler::Builder;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

/// Push (from outside) -> injector -> notify -> a parked or parking worker -> run ->
/// wake the `block_on` thread: no interleaving loses a wake-up (a lost one would
/// deadlock, which loom reports).
#[test]
fn spawn_remote_is_never_lost() {
    loom::model(|| {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let task = ex.spawn(async { 7 });
        assert_eq!(ex.block_on(task).unwrap(), 7);
    });
}

/// A task spawned from inside a worker goes to its LIFO slot (and notifies); the
/// `block_on` thread waits for it through the task's join waker.
#[test]
fn spawn_local_runs_once() {
    loom::model(|| {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let outer = ex.spawn(async move {
            let handle = corio_scheduler::Handle::try_current().unwrap();
            handle
                .spawn(async move {
                    r.fetch_add(1, SeqCst);
                })
                .await
                .unwrap();
        });
        ex.block_on(outer).unwrap();
        assert_eq!(runs.load(SeqCst), 1);
    });
}

/// Two workers, one task from outside: whichever worker is notified (or already
/// searching) runs it; the other parks; shutdown wakes both.
#[test]
fn two_workers_spawn_remote() {
    loom::model(|| {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let task = ex.spawn(async { 3 });
        assert_eq!(ex.block_on(task).unwrap(), 3);
    });
}

/// The idle protocol alone: a worker parks (as the last searcher) while another thread
/// pushes work and notifies. Either the notifier wakes it, or the worker's last look
/// sees the work: never both missed.
#[test]
fn park_vs_notify_no_lost_wakeup() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(2));
        // Worker 1 is parked already; worker 0 searches and finds nothing.
        assert!(!idle.transition_worker_to_parked(1, false));
        assert!(idle.transition_worker_to_searching());
        let work = Arc::new(AtomicUsize::new(0));

        let pusher = {
            let (idle, work) = (idle.clone(), work.clone());
            thread::spawn(move || {
                work.store(1, SeqCst); // the push
                idle.worker_to_notify()
            })
        };
        // Worker 0 goes to park as the last searcher, then takes its last look.
        let last = idle.transition_worker_to_parked(0, true);
        assert!(last);
        let saw_work = work.load(SeqCst) == 1;
        let self_notified = if saw_work {
            idle.worker_to_notify()
        } else {
            None
        };
        let notified = pusher.join().unwrap();
        assert!(
            saw_work || notified.is_some(),
            "work pushed, nobody saw it and nobody was woken"
        );
        if let Some(w) = notified.or(self_notified) {
            assert!(!idle.is_parked(w));
        }
    });
}

/// The searching throttle: with 4 workers, at most 2 search at once whatever the
/// interleaving, and exactly one leaving searcher is told it was the last.
#[test]
fn searching_throttle_is_exact() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(4));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let lasts = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (idle, max_seen, lasts) = (idle.clone(), max_seen.clone(), lasts.clone());
                thread::spawn(move || {
                    if idle.transition_worker_to_searching() {
                        max_seen.fetch_max(idle.num_searching(), SeqCst);
                        if idle.transition_worker_from_searching() {
                            lasts.fetch_add(1, SeqCst);
                        }
                        true
                    } else {
                        false
                    }
                })
            })
            .collect();
        let searched = threads
            .into_iter()
            .filter(|_| true)
            .map(|t| t.join().unwrap())
            .filter(|&s| s)
            .count();
        assert!(searched >= 1, "the first one always may search");
        assert!(
            max_seen.load(SeqCst) <= 2,
            "more than half of 4 workers searched"
        );
        assert!(lasts.load(SeqCst) >= 1);
        assert_eq!(idle.num_searching(), 0);
    });
}

/// Shutdown racing a spawn from another thread: the task is either run or cancelled
/// (its future dropped exactly once, its Task finished); never stranded in a queue.
#[test]
fn shutdown_racing_spawn() {
    loom::model(|| {
        struct CountDrop(Arc<AtomicUsize>);
        impl Drop for CountDrop {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let handle = ex.handle().clone();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let spawner = thread::spawn(move || {
            let guard = CountDrop(d);
            handle.spawn(async move {
                let _guard = guard;
            })
        });
        drop(ex);
        let task = spawner.join().unwrap();
        assert!(task.is_finished(), "task neither ran nor was cancelled");
        assert_eq!(drops.load(SeqCst), 1);
    });
}
