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

/// Counts drops of a task's future (owned-task models).
struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Owned-task list: a task is spawned and polled (it then waits forever) on one thread
/// while another closes the list and cancels everything. Whatever the interleaving,
/// the future is dropped exactly once (by the sweep, or at spawn when the list was
/// already closed), the task resolves `Err(Cancelled)`, and the list ends empty (no
/// entry, no leaked reference).
#[test]
fn owned_tasks_spawn_vs_close() {
    use corio_scheduler::loom_model::OwnedTasks;
    loom::model(|| {
        let list = Arc::new(OwnedTasks::new(1));
        let drops = Arc::new(AtomicUsize::new(0));
        let (l, d) = (list.clone(), drops.clone());
        let spawner = thread::spawn(move || {
            let guard = CountDrop(d);
            let (runnable, task) = l.spawn(
                async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                },
                |_r| {},
            );
            if let Some(runnable) = runnable {
                runnable.run();
            }
            task
        });
        list.close_and_cancel_all();
        let task = spawner.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
        assert!(task.is_finished());
        assert!(futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled());
        assert!(list.is_empty());
        // A second sweep finds nothing: every task was taken once.
        assert_eq!(list.close_and_cancel_all(), 0);
    });
}

/// Owned-task list: a dump walks the list while the task finishes on another
/// thread (its future dropped, its entry removed and its last references dropped).
/// The walk reads it through a reference it copied under the shard lock, so it sees
/// the task once or not at all, never freed memory, and leaves no reference behind.
#[test]
fn owned_tasks_walk_vs_finish() {
    use corio_scheduler::loom_model::OwnedTasks;
    loom::model(|| {
        let list = Arc::new(OwnedTasks::new(1));
        let (runnable, task) = list.spawn(async { 7 }, |_r| {});
        let id = task.id();
        let runner = thread::spawn(move || {
            if let Some(runnable) = runnable {
                runnable.run();
            }
            futures::executor::block_on(task).unwrap()
        });
        let seen = list.ids();
        assert!(seen.is_empty() || seen == [id], "{seen:?}");
        assert_eq!(runner.join().unwrap(), 7);
        assert!(list.is_empty());
        assert!(list.ids().is_empty());
    });
}

/// Owned-task list: a task idle on its waker is woken on one thread while another
/// closes the list and cancels it; the woken `Runnable` is run (or dropped, as a
/// shut-down executor does) after. The future is dropped exactly once and the task
/// resolves `Err(Cancelled)` unless its poll completed first.
#[test]
fn owned_tasks_wake_vs_close() {
    use corio_scheduler::loom_model::OwnedTasks;
    use loom::sync::Mutex;
    loom::model(|| {
        let list = OwnedTasks::new(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let queue: Arc<Mutex<Vec<corio_core::Runnable>>> = Arc::new(Mutex::new(Vec::new()));
        let q = queue.clone();
        let guard = CountDrop(drops.clone());
        let (waker_tx, waker_rx) = std::sync::mpsc::channel();
        let (runnable, task) = list.spawn(
            async move {
                let _guard = guard;
                // Park once (handing out the waker), then finish when polled again.
                let mut parked = false;
                std::future::poll_fn(|cx| {
                    if parked {
                        return std::task::Poll::Ready(());
                    }
                    parked = true;
                    waker_tx.send(cx.waker().clone()).unwrap();
                    std::task::Poll::Pending
                })
                .await;
            },
            move |r| q.lock().unwrap().push(r),
        );
        runnable.expect("list open").run();
        let waker = waker_rx.recv().unwrap();
        let waking = thread::spawn(move || waker.wake());
        list.close_and_cancel_all();
        waking.join().unwrap();
        let queued: Vec<_> = queue.lock().unwrap().drain(..).collect();
        for r in queued {
            r.run();
        }
        assert!(task.is_finished());
        assert_eq!(drops.load(SeqCst), 1);
        assert!(list.is_empty());
        // The sweep ran before any re-poll here, so the task can only be cancelled.
        assert!(futures::executor::block_on(task)
            .unwrap_err()
            .is_cancelled());
    });
}

/// Owned-task list: two tasks finish on two threads while a dump walks the list. A
/// finish that finds the shard locked queues its slot instead of waiting (the queue
/// holds one slot under loom, so the second one may find it full and take the lock);
/// the walk and every later reader free the queued slots first. Whatever the
/// interleaving, the walk sees each task at most once, and afterwards the list is
/// empty and holds no reference.
#[test]
fn owned_tasks_queued_finishes_vs_walk() {
    use corio_scheduler::loom_model::OwnedTasks;
    loom::model(|| {
        let list = Arc::new(OwnedTasks::new(1));
        let runners: Vec<_> = (0..2)
            .map(|i| {
                let (runnable, task) = list.spawn(async move { i }, |_r| {});
                thread::spawn(move || {
                    if let Some(runnable) = runnable {
                        runnable.run();
                    }
                    // Awaited on the main thread: futures' `block_on` refuses to
                    // run on two loom threads at once (they share one OS thread).
                    task
                })
            })
            .collect();
        let seen = list.ids();
        assert!(seen.len() <= 2, "{seen:?}");
        for (i, runner) in runners.into_iter().enumerate() {
            let task = runner.join().unwrap();
            assert!(task.is_finished());
            assert_eq!(futures::executor::block_on(task).unwrap(), i);
        }
        assert!(list.ids().is_empty());
        assert!(list.is_empty());
    });
}

/// Owned-task list: a task finishes on one thread (its slot freed under the lock or
/// queued, when the spawn below holds the lock) while another thread spawns a second
/// task, which waits forever, then closes the list. The finish is either done or
/// queued before the sweep, which frees queued slots first; the waiting task is
/// cancelled exactly once (its future dropped once) and the list ends empty.
#[test]
fn owned_tasks_finish_vs_spawn_and_close() {
    use corio_scheduler::loom_model::OwnedTasks;
    loom::model(|| {
        let list = Arc::new(OwnedTasks::new(1));
        let (runnable, finishing) = list.spawn(async { 7 }, |_r| {});
        let runner = thread::spawn(move || {
            if let Some(runnable) = runnable {
                runnable.run();
            }
            finishing
        });
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = CountDrop(drops.clone());
        let (runnable, waiting) = list.spawn(
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            },
            |_r| {},
        );
        if let Some(runnable) = runnable {
            runnable.run();
        }
        list.close_and_cancel_all();
        let finishing = runner.join().unwrap();
        assert!(finishing.is_finished());
        match futures::executor::block_on(finishing) {
            Ok(v) => assert_eq!(v, 7),
            // The sweep may come first: the task is cancelled before it runs.
            Err(e) => assert!(e.is_cancelled()),
        }
        assert_eq!(drops.load(SeqCst), 1);
        assert!(futures::executor::block_on(waiting)
            .unwrap_err()
            .is_cancelled());
        assert!(list.is_empty());
        assert_eq!(list.close_and_cancel_all(), 0);
    });
}

/// A local task that parks once and hands its waker to a new thread, which wakes it;
/// returns that thread's handle (joined by the caller).
async fn local_woken_from_another_thread() -> thread::JoinHandle<()> {
    let mut waking = None;
    std::future::poll_fn(|cx| match waking.take() {
        Some(handle) => std::task::Poll::Ready(handle),
        None => {
            let waker = cx.waker().clone();
            waking = Some(thread::spawn(move || waker.wake()));
            std::task::Poll::Pending
        }
    })
    .await
}

/// Local tasks' home-inbox protocol on a `block_on` thread: a local task woken from
/// another thread (push to the inbox, `pending`, unpark) while the `block_on` thread
/// checks its flags and parks is never lost, and runs on its home.
#[test]
fn local_task_woken_home_to_block_on() {
    loom::model(|| {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        ex.block_on(async {
            let task = corio_scheduler::spawn_local(local_woken_from_another_thread());
            task.await.unwrap().join().unwrap();
        });
    });
}

/// The same protocol on a worker: the worker re-checks its home's `pending` flag
/// before it parks, so a wake-up from another thread is never lost.
#[test]
fn local_task_woken_home_to_worker() {
    loom::model(|| {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let outer = ex.spawn(async {
            let task = corio_scheduler::spawn_local(local_woken_from_another_thread());
            task.await.unwrap().join().unwrap();
        });
        ex.block_on(outer).unwrap();
    });
}

/// Current-thread flavor: the `block_on` thread runs the worker and its home; a
/// wake-up from another thread reaches it through worker 0's parker.
#[test]
fn local_task_woken_home_current_thread() {
    loom::model(|| {
        let ex = Builder::new().current_thread().build().unwrap();
        ex.block_on(async {
            let task = corio_scheduler::spawn_local(local_woken_from_another_thread());
            task.await.unwrap().join().unwrap();
        });
    });
}

/// A park hook standing in for the reactor: one I/O event arrives
/// ([`ModelReactor::arrive`]) and is delivered by whichever thread waits in the hook
/// or polls it. `park` ignores its timeout (a tick that passes delivers nothing): in
/// these models every wake-up must be explicit, and a lost one is a deadlock loom
/// reports. Two threads in the hook at once fail the model.
#[derive(Default)]
struct ModelReactor {
    state: loom::sync::Mutex<ReactorState>,
    waiting: loom::sync::Condvar,
    inside: AtomicUsize,
}

#[derive(Default)]
struct ReactorState {
    /// `unpark` was called (sticky, like `polling::Poller::notify`).
    token: bool,
    /// The event arrived and nobody delivered it yet.
    event: bool,
    delivered: bool,
}

impl ModelReactor {
    fn state(&self) -> loom::sync::MutexGuard<'_, ReactorState> {
        self.state.lock().unwrap()
    }

    /// The I/O event arrives (a thread waiting in the hook returns).
    fn arrive(&self) {
        self.state().event = true;
        self.waiting.notify_all();
    }

    fn delivered(&self) -> bool {
        self.state().delivered
    }
}

impl corio_scheduler::Park for ModelReactor {
    fn park(&self, _timeout: Option<std::time::Duration>) -> bool {
        assert_eq!(
            self.inside.fetch_add(1, SeqCst),
            0,
            "two threads in the hook"
        );
        let mut state = self.state();
        loop {
            if state.event {
                state.event = false;
                state.delivered = true;
                break;
            }
            if state.token {
                state.token = false;
                break;
            }
            state = self.waiting.wait(state).unwrap();
        }
        drop(state);
        self.inside.fetch_sub(1, SeqCst);
        true
    }

    fn unpark(&self) {
        self.state().token = true;
        self.waiting.notify_all();
    }

    fn poll_ready(&self) {
        let mut state = self.state();
        if state.event {
            state.event = false;
            state.delivered = true;
        }
    }
}

/// One worker with the model reactor as its park hook, and its stall monitor (driven
/// by the model).
fn executor_with_reactor() -> (
    corio_scheduler::Executor,
    std::sync::Arc<ModelReactor>,
    corio_scheduler::loom_model::Monitor,
) {
    // A std `Arc` (the builder's type): loom does not need to see its counts.
    let reactor = std::sync::Arc::new(ModelReactor::default());
    let ex = Builder::new()
        .worker_threads(1)
        .park_hook(reactor.clone())
        .stall_threshold(Some(std::time::Duration::from_millis(10)))
        .build()
        .unwrap();
    let monitor = corio_scheduler::loom_model::Monitor::new(ex.handle());
    (ex, reactor, monitor)
}

/// The reactor hand-over (stall monitor step 5): the only worker waits in the hook, is
/// woken to run a task, and that task blocks it until an I/O event is delivered. The
/// monitor, racing with the worker leaving the hook, takes the hook over: whatever the
/// interleaving the event is delivered (by the worker before it left, or by the
/// monitor), never by two threads in the hook at once, and shutdown then ends
/// everything (a lost wake-up would be a deadlock).
#[test]
fn monitor_takes_the_hook_from_a_worker_running_a_task() {
    loom::model(|| {
        let (ex, reactor, monitor) = executor_with_reactor();
        let r = reactor.clone();
        let blocker = ex.spawn(async move {
            // A blocking call: holds the worker until the event is delivered.
            while !r.delivered() {
                thread::yield_now();
            }
        });
        let r = reactor.clone();
        let monitor = thread::spawn(move || {
            while !r.delivered() && !monitor.shutting_down() {
                if !monitor.drive_reactor() {
                    thread::yield_now();
                }
            }
        });
        reactor.arrive();
        ex.block_on(blocker).unwrap();
        drop(ex);
        monitor.join().unwrap();
        assert!(reactor.delivered());
    });
}

/// Shutdown racing with the monitor taking the hook (step 8): the worker runs a task
/// that blocks it, so the monitor waits in the hook, with nothing to wake it there but
/// `begin_shutdown` (its `in_hook` flag against the shutdown flag, both `SeqCst`).
#[test]
fn shutdown_wakes_the_monitor_in_the_hook() {
    loom::model(|| {
        let (ex, _reactor, monitor) = executor_with_reactor();
        let stop = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let _blocker = ex.spawn(async move {
            while !s.load(SeqCst) {
                thread::yield_now();
            }
        });
        // Until it has waited in the hook once (or shutdown began).
        let monitor = thread::spawn(move || {
            while !monitor.shutting_down() && !monitor.drive_reactor() {
                thread::yield_now();
            }
        });
        let shutdown = thread::spawn(move || drop(ex));
        stop.store(true, SeqCst);
        shutdown.join().unwrap();
        monitor.join().unwrap();
    });
}

/// Idle rule 3: the last searcher found a task and stops searching while another
/// thread pushes a second one. Either the pusher sees no searcher and wakes the parked
/// worker, or the searcher's look at the queues sees the second task: the searcher
/// wakes nobody only when nothing is left, and no task is left without a worker.
#[test]
fn found_work_vs_push_no_lost_wakeup() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(2));
        // Worker 1 is parked; worker 0 searched and found a task.
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
        assert!(idle.transition_worker_from_searching());
        let saw_work = work.load(SeqCst) == 1;
        let searcher_notified = if saw_work {
            idle.worker_to_notify()
        } else {
            None
        };
        let notified = pusher.join().unwrap();
        assert!(
            saw_work || notified.is_some(),
            "work pushed, the searcher did not see it and nobody was woken"
        );
        if let Some(w) = notified.or(searcher_notified) {
            assert_eq!(w, 1);
            assert!(!idle.is_parked(w));
        }
    });
}
