//! Drops: every future and every output is dropped exactly once, whatever path the task takes,
//! and the allocation is freed (Miri checks the leaks: `ci/miri.sh`).

mod common;

use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use common::{block_on, Counter, Gate, Queue, Sched, Token};

/// A future that owns a counted token, waits for its gate, then returns another token.
fn counted(
    futs: &Counter,
    outs: &Counter,
    gate: &Gate,
) -> impl std::future::Future<Output = Token> + Send + 'static {
    let held = futs.token();
    let outs = outs.clone();
    let wait = gate.wait();
    async move {
        let _held = held;
        wait.await;
        outs.token()
    }
}

/// Runs a task of `counted` until it waits, opens its gate, runs it to the end and
/// takes its output.
fn run_to_completion_and_await(
    runnable: corio_core::Runnable,
    gate: &Gate,
    q: &Queue,
    task: corio_core::Task<Token>,
) {
    runnable.run();
    gate.open();
    q.run_all();
    drop(block_on(task).unwrap());
}

#[test]
fn every_future_and_output_is_dropped_exactly_once() {
    let futs = Counter::new();
    let outs = Counter::new();
    let q = Queue::new();
    // Each path a task can take to its end, several times over.
    for round in 0..common::iters(20) {
        for path in 0..9 {
            let gate = Gate::new();
            let (runnable, task) =
                corio_core::spawn(counted(&futs, &outs, &gate), Sched(q.clone()));
            match path {
                // Completed and awaited.
                0 => run_to_completion_and_await(runnable, &gate, &q, task),
                // Completed, then the Task dropped without reading the output.
                1 => {
                    gate.open();
                    runnable.run();
                    drop(task);
                }
                // Detached, then completed: the harness drops the output.
                2 => {
                    drop(task);
                    gate.open();
                    runnable.run();
                }
                // Cancelled while idle.
                3 => {
                    runnable.run();
                    task.cancel();
                    assert!(block_on(task).is_err());
                }
                // Runnable dropped unrun (shutdown).
                4 => {
                    drop(runnable);
                    drop(task);
                }
                // Woken, then the queue dropped (shutdown with queued tasks).
                5 => {
                    runnable.run();
                    gate.take_waker().unwrap().wake();
                    q.runnables.lock().unwrap().clear();
                    assert!(block_on(task).unwrap_err().is_cancelled());
                }
                // Detached while idle, and its waker dropped unwoken: the last reference
                // drops the future.
                6 => {
                    runnable.run();
                    drop(task);
                    drop(gate.take_waker());
                }
                // Task polled (join waker registered), then completed.
                7 => {
                    let mut task = task;
                    assert!(common::poll_once(&mut task).is_pending());
                    runnable.run();
                    gate.open();
                    q.run_all();
                    match common::poll_once(&mut task) {
                        Poll::Ready(out) => drop(out.unwrap()),
                        Poll::Pending => panic!("complete"),
                    }
                }
                // Cancelled while queued, the Runnable then runs (and just releases).
                _ => {
                    runnable.schedule();
                    task.cancel();
                    q.run_all();
                    drop(task);
                }
            }
            assert_eq!(
                futs.live(),
                0,
                "round {round} path {path}: a future leaked or was not dropped"
            );
            assert_eq!(
                outs.live(),
                0,
                "round {round} path {path}: an output leaked"
            );
            assert_eq!(q.len(), 0);
        }
    }
    // Paths 0, 1, 2, 7 produce an output; every future was created once per task.
    assert_eq!(futs.created(), common::iters(20) * 9);
    assert_eq!(outs.created(), common::iters(20) * 4);
}

#[test]
fn a_waker_outliving_everything_frees_the_task() {
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let s = slot.clone();
    let outs = Counter::new();
    let o = outs.clone();
    let fut = std::future::poll_fn(move |cx| {
        *s.lock().unwrap() = Some(cx.waker().clone());
        Poll::Ready(o.token())
    });
    let (runnable, task) = corio_core::spawn(fut, |_r| {});
    runnable.run();
    drop(task);
    assert_eq!(
        outs.live(),
        0,
        "the output of a detached task is dropped on completion"
    );
    // The waker is now the only reference; dropping it frees the allocation (Miri: no leak).
    let waker = slot.lock().unwrap().take().unwrap();
    waker.wake_by_ref();
    drop(waker);
}

#[test]
fn the_schedule_function_is_dropped_with_the_task() {
    let counter = Counter::new();
    let token = Arc::new(counter.token());
    let sched = move |_r: corio_core::Runnable| {
        let _ = &token;
    };
    let (runnable, task) = corio_core::spawn(async {}, sched);
    runnable.run();
    assert_eq!(counter.live(), 1, "alive while the Task is");
    drop(task);
    assert_eq!(counter.live(), 0);
}

#[test]
fn zero_sized_schedule_function_with_wakers() {
    fn sched(r: corio_core::Runnable) {
        r.run();
    }
    let gate = Gate::new();
    let (runnable, task) = corio_core::spawn(gate.wait(), sched);
    runnable.run();
    gate.open(); // wakes: the schedule function runs the task to completion inline
    assert!(task.is_finished());
    assert!(block_on(task).is_ok());
}

#[test]
fn a_listed_task_counts_its_task_ref_from_the_start() {
    // The schedule function lives as long as the allocation: its token shows when the
    // task is freed.
    for path in 0..3 {
        let cells = Counter::new();
        let futs = Counter::new();
        let outs = Counter::new();
        let gate = Gate::new();
        let cell = cells.token();
        let q = Queue::new();
        let queue = q.clone();
        let (runnable, task, listed) = corio_core::Builder::new().spawn_listed(
            counted(&futs, &outs, &gate),
            move |r: corio_core::Runnable| {
                let _ = &cell;
                let info = corio_core::ScheduleInfo::new(false);
                queue.runnables.lock().unwrap().push_back((r, info));
            },
        );
        match path {
            // Completed and awaited: the list's reference is the last one.
            0 => {
                run_to_completion_and_await(runnable, &gate, &q, task);
                assert!(listed.is_finished());
                assert_eq!(cells.live(), 1, "freed while the list still held it");
                drop(listed);
            }
            // Cancelled through the list while idle (shutdown), then the list lets go.
            1 => {
                runnable.run();
                assert!(listed.cancel());
                q.run_all();
                assert!(block_on(task).unwrap_err().is_cancelled());
                drop(listed);
            }
            // Unlisted first (a closed list), then completed and detached.
            _ => {
                drop(listed);
                drop(task);
                gate.open();
                runnable.run();
            }
        }
        // The gate holds the waker of a task that waited on it (path 1).
        drop(gate);
        assert_eq!(futs.live(), 0, "path {path}: the future leaked");
        assert_eq!(outs.live(), 0, "path {path}: the output leaked");
        assert_eq!(cells.live(), 0, "path {path}: the task was not freed");
    }
}
