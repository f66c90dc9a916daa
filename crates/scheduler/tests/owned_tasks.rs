//! The executor owns its tasks: shutdown cancels every one of them by itself, including
//! tasks idle on a waker nobody will wake and tasks queued behind a stuck worker.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::with_timeout;
use corio_scheduler::{Builder, Executor, Handle};

/// Counts drops of a task's future.
struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Pending forever; parks its waker in a slot the test keeps (so the task is idle on a
/// live waker that nobody wakes: in no queue, not freed by its reference count).
struct ParkedForever {
    slot: Arc<Mutex<Option<Waker>>>,
    polled: Arc<AtomicUsize>,
    _guard: CountDrop,
}

impl Future for ParkedForever {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        self.polled.fetch_add(1, SeqCst);
        Poll::Pending
    }
}

/// Until `cond` holds, or fail after 10 s.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The wakers of parked tasks, kept alive (never woken) until the test drops them.
type Wakers = Vec<Arc<Mutex<Option<Waker>>>>;

/// `n` tasks parked on wakers nobody wakes; returns once every one has parked (for
/// the current-thread flavor, `block_on` drives them there).
fn parked_tasks(
    ex: &Executor,
    n: usize,
    current_thread: bool,
) -> (Vec<corio_scheduler::Task<()>>, Arc<AtomicUsize>, Wakers) {
    let drops = Arc::new(AtomicUsize::new(0));
    let polled = Arc::new(AtomicUsize::new(0));
    let slots: Vec<_> = (0..n).map(|_| Arc::new(Mutex::new(None))).collect();
    let tasks = slots
        .iter()
        .map(|slot| {
            ex.spawn(ParkedForever {
                slot: slot.clone(),
                polled: polled.clone(),
                _guard: CountDrop(drops.clone()),
            })
        })
        .collect();
    if current_thread {
        ex.block_on(async {
            while polled.load(SeqCst) < n {
                common::yield_now().await;
            }
        });
    } else {
        wait_until("every task to park", || polled.load(SeqCst) == n);
    }
    // The wakers stay alive (in `slots`) but are never woken, as a waker registered with
    // a dead event source would be. Each holds a reference to its task, so the caller
    // drops them at the end: then every task's memory is freed (LeakSanitizer checks).
    (tasks, drops, slots)
}

/// Multi-thread and current-thread flavors: a task parked on a waker nobody will wake
/// is dropped at shutdown, and its `Task` resolves `Err(Cancelled)`.
#[test]
fn parked_tasks_are_cancelled_at_shutdown() {
    with_timeout(60, || {
        for current_thread in [false, true] {
            let mut b = Builder::new().worker_threads(2);
            if current_thread {
                b = b.current_thread();
            }
            let ex = b.build().unwrap();
            let (tasks, drops, wakers) = parked_tasks(&ex, 100, current_thread);
            assert_eq!(drops.load(SeqCst), 0);
            assert_eq!(ex.handle().tasks().len(), 100);
            drop(ex);
            assert_eq!(drops.load(SeqCst), 100, "current_thread: {current_thread}");
            for t in tasks {
                let err = futures::executor::block_on(t).unwrap_err();
                assert!(err.is_cancelled());
            }
            drop(wakers);
        }
    });
}

/// The only worker is stuck in a poll after spawning children onto its own queue:
/// `shutdown_timeout` cannot wait for it, but still drops every child's future (and
/// the tasks parked on wakers) before it returns.
#[test]
fn shutdown_timeout_cancels_tasks_queued_behind_a_stuck_worker() {
    with_timeout(60, || {
        let ex = Builder::new().worker_threads(1).build().unwrap();
        let (parked, parked_drops, wakers) = parked_tasks(&ex, 10, false);
        let child_drops = Arc::new(AtomicUsize::new(0));
        let (stuck_tx, stuck_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let children: Arc<Mutex<Vec<corio_scheduler::Task<()>>>> = Arc::default();
        let (cd, ch) = (child_drops.clone(), children.clone());
        let stuck = ex.spawn(async move {
            let handle = Handle::try_current().unwrap();
            for _ in 0..20 {
                let guard = CountDrop(cd.clone());
                // Spawned on this worker: its LIFO slot and local queue.
                ch.lock().unwrap().push(handle.spawn(async move {
                    let _guard = guard;
                }));
            }
            let _ = stuck_tx.send(());
            let _ = release_rx.recv_timeout(Duration::from_secs(60));
        });
        stuck_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let start = Instant::now();
        assert!(!ex.shutdown_timeout(Duration::from_millis(100)));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(child_drops.load(SeqCst), 20, "queued children dropped");
        assert_eq!(parked_drops.load(SeqCst), 10, "parked tasks dropped");
        for t in parked {
            assert!(futures::executor::block_on(t).unwrap_err().is_cancelled());
        }
        for t in children.lock().unwrap().drain(..) {
            assert!(futures::executor::block_on(t).unwrap_err().is_cancelled());
        }
        assert!(!stuck.is_finished(), "still in its poll");
        let _ = release_tx.send(());
        // The detached worker finishes its poll, then drops the (cancelled) task.
        let err = futures::executor::block_on(stuck).unwrap_err();
        assert!(err.is_cancelled());
        drop(wakers);
    });
}

/// A task spawned while shutdown cancels tasks (by a dropped future) is cancelled at
/// once, never run.
#[test]
fn spawn_from_a_cancelled_future_is_cancelled() {
    struct SpawnOnDrop(Handle, Arc<AtomicUsize>, Arc<AtomicUsize>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let ran = self.1.clone();
            let guard = CountDrop(self.2.clone());
            self.0.spawn(async move {
                let _guard = guard;
                ran.fetch_add(1, SeqCst);
            });
        }
    }
    with_timeout(60, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let polled = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None));
        let on_drop = SpawnOnDrop(ex.handle().clone(), ran.clone(), drops.clone());
        let (p, s) = (polled.clone(), slot.clone());
        let _t = ex.spawn(async move {
            let _on_drop = on_drop;
            ParkedForever {
                slot: s,
                polled: p,
                _guard: CountDrop(Arc::default()),
            }
            .await
        });
        wait_until("the task to park", || polled.load(SeqCst) == 1);
        drop(ex);
        assert_eq!(drops.load(SeqCst), 1, "the late task's future was dropped");
        assert_eq!(ran.load(SeqCst), 0, "and never ran");
        drop(slot);
    });
}

/// `Handle::tasks` lists live tasks, and forgets them once their future is dropped.
#[test]
fn tasks_lists_live_tasks() {
    with_timeout(60, || {
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let waiting = ex.spawn_with(corio_core::Builder::new().name("waiting"), async move {
            let _ = rx.await;
        });
        let done = ex.spawn(async {});
        let done_id = done.id();
        ex.block_on(done).unwrap();
        let live = ex.handle().tasks();
        assert!(live
            .iter()
            .any(|t| t.id() == waiting.id() && t.name() == Some("waiting")));
        assert!(live.iter().all(|t| t.id() != done_id));
        tx.send(()).unwrap();
        let id = waiting.id();
        ex.block_on(waiting).unwrap();
        assert!(ex.handle().tasks().iter().all(|t| t.id() != id));
    });
}

/// Dropped from inside one of its own tasks (the shutdown then runs in the background):
/// the last worker to exit cancels the parked tasks, and the dropping task keeps its
/// panic (it is not overwritten by the cancellation).
#[test]
fn background_shutdown_cancels_parked_tasks() {
    with_timeout(60, || {
        let ex = Builder::new()
            .worker_threads(2)
            .unhandled_panic(|_, _| {})
            .build()
            .unwrap();
        let (_parked, drops, wakers) = parked_tasks(&ex, 10, false);
        let slot: Arc<Mutex<Option<Executor>>> = Arc::default();
        let (go_tx, go_rx) = futures::channel::oneshot::channel::<()>();
        let s = slot.clone();
        let dropper = ex.spawn(async move {
            go_rx.await.unwrap();
            let ex = s.lock().unwrap().take();
            drop(ex);
        });
        *slot.lock().unwrap() = Some(ex);
        go_tx.send(()).unwrap();
        let err = futures::executor::block_on(dropper).unwrap_err();
        assert!(err.is_panic(), "the drop's panic is kept: {err:?}");
        wait_until("the parked tasks to be cancelled", || {
            drops.load(SeqCst) == 10
        });
        drop(wakers);
    });
}

/// Tasks spawned by one thread and finished by the workers (their slots freed through
/// the queue of the spawner's shard, which fills and overflows at this count) while
/// another thread walks the list: every future is dropped once, the walk never sees a
/// task twice, and once all are joined the list is empty.
#[test]
fn tasks_finished_by_other_threads_leave_the_list() {
    with_timeout(60, || {
        const N: usize = 2_000;
        let ex = Builder::new().worker_threads(2).build().unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let walking = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let walker = {
            let (handle, walking) = (ex.handle().clone(), walking.clone());
            std::thread::spawn(move || {
                let mut walks = 0;
                while walking.load(SeqCst) || walks == 0 {
                    let mut ids: Vec<_> = handle.map_tasks(|t| t.id());
                    let seen = ids.len();
                    ids.sort();
                    ids.dedup();
                    assert_eq!(ids.len(), seen, "a task seen twice in one walk");
                    walks += 1;
                }
            })
        };
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let guard = CountDrop(drops.clone());
                ex.spawn(async move {
                    let _guard = guard;
                    i
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(ex.block_on(task).unwrap(), i);
        }
        walking.store(false, SeqCst);
        walker.join().unwrap();
        assert_eq!(drops.load(SeqCst), N);
        assert_eq!(ex.handle().task_count(), 0);
        assert!(ex.handle().tasks().is_empty());
    });
}
