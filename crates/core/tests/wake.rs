//! Waking: wake-ups are never lost nor doubled; a wake during a poll reschedules exactly once,
//! after the poll; waking a finished or cancelled task does nothing.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;

use common::{block_on, iters, join_timeout, Gate, Queue, Sched};

#[test]
fn waking_an_idle_task_schedules_it_once() {
    let q = Queue::new();
    let gate = Gate::new();
    let (runnable, task) = corio_core::spawn(gate.wait(), Sched(q.clone()));
    assert!(!runnable.run());
    let waker = gate.take_waker().expect("the future registered a waker");
    waker.wake_by_ref();
    waker.wake_by_ref();
    let by_value = waker.clone(); // exercises the by-value path
    by_value.wake();
    assert_eq!(q.len(), 1, "three wakes of an idle task make one Runnable");
    let (r, info) = q.pop().unwrap();
    assert!(!info.woken_while_running);
    drop(waker);
    gate.open();
    r.run();
    assert!(block_on(task).is_ok());
}

#[test]
fn waking_before_the_first_run_is_a_no_op() {
    let q = Queue::new();
    let (runnable, task) = corio_core::spawn(async { 5 }, Sched(q.clone()));
    runnable.waker().wake();
    assert_eq!(q.len(), 0, "the Runnable already exists: no second one");
    runnable.run();
    assert_eq!(block_on(task).unwrap(), 5);
}

#[test]
fn wake_during_poll_reschedules_exactly_once_after_the_poll() {
    let q = Queue::new();
    let polls = Arc::new(AtomicUsize::new(0));
    let scheduled_during_poll = Arc::new(AtomicBool::new(false));
    let (p, q2, s) = (polls.clone(), q.clone(), scheduled_during_poll.clone());
    let fut = std::future::poll_fn(move |cx| {
        if p.fetch_add(1, Ordering::SeqCst) == 0 {
            cx.waker().wake_by_ref();
            cx.waker().wake_by_ref();
            let by_value = cx.waker().clone(); // the by-value path
            by_value.wake();
            // The schedule function must not have been called yet.
            s.store(q2.len() != 0, Ordering::SeqCst);
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    assert!(runnable.run(), "run reports that the task woke itself");
    assert!(!scheduled_during_poll.load(Ordering::SeqCst));
    assert_eq!(q.len(), 1);
    let (r, info) = q.pop().unwrap();
    assert!(info.woken_while_running);
    assert!(!r.run());
    assert_eq!(polls.load(Ordering::SeqCst), 2);
    assert_eq!(q.scheduled.load(Ordering::SeqCst), 1);
    assert!(block_on(task).is_ok());
}

#[test]
fn yield_loop_runs_the_expected_number_of_times() {
    let q = Queue::new();
    let mut left = 10;
    let fut = std::future::poll_fn(move |cx| {
        if left == 0 {
            return Poll::Ready("done");
        }
        left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    runnable.schedule();
    assert_eq!(q.run_all(), 11);
    assert_eq!(block_on(task).unwrap(), "done");
}

#[test]
fn waking_a_finished_task_does_nothing() {
    let q = Queue::new();
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let s = slot.clone();
    let fut = std::future::poll_fn(move |cx| {
        *s.lock().unwrap() = Some(cx.waker().clone());
        Poll::Ready(1)
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    runnable.run();
    let waker = slot.lock().unwrap().take().unwrap();
    waker.wake_by_ref();
    assert_eq!(q.len(), 0);
    assert_eq!(block_on(task).unwrap(), 1);
    // The waker outlives the Task: still safe, still a no-op, and its drop frees the task.
    waker.wake_by_ref();
    waker.wake();
    assert_eq!(q.len(), 0);
}

#[test]
fn waking_a_cancelled_task_does_nothing() {
    let q = Queue::new();
    let gate = Gate::new();
    let (runnable, task) = corio_core::spawn(gate.wait(), Sched(q.clone()));
    runnable.run();
    let waker = gate.take_waker().unwrap();
    assert!(task.cancel());
    waker.wake_by_ref();
    waker.wake();
    assert_eq!(q.len(), 0);
    assert!(block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn runnable_waker_wakes_after_the_run() {
    let q = Queue::new();
    let gate = Gate::new();
    let (runnable, task) = corio_core::spawn(gate.wait(), Sched(q.clone()));
    let early = runnable.waker();
    runnable.run();
    early.wake();
    assert_eq!(q.len(), 1);
    gate.open();
    q.run_all();
    assert!(block_on(task).is_ok());
}

#[test]
fn wakes_from_other_threads_are_never_lost() {
    // A task waits for N signals from another thread; each signal is one wake-up. The task
    // only finishes if no wake-up was lost, whatever the interleaving with its polls.
    let n = iters(2000);
    let q = Queue::new();
    let count = Arc::new(AtomicUsize::new(0));
    let waker_slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (c, w) = (count.clone(), waker_slot.clone());
    let fut = std::future::poll_fn(move |cx| {
        *w.lock().unwrap() = Some(cx.waker().clone());
        if c.load(Ordering::SeqCst) >= n {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    });
    let (runnable, task) = corio_core::spawn(fut, Sched(q.clone()));
    runnable.run();
    let (c, w) = (count.clone(), waker_slot.clone());
    let signaller = thread::spawn(move || {
        for _ in 0..n {
            c.fetch_add(1, Ordering::SeqCst);
            let waker = w.lock().unwrap().clone();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    });
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    while !task.is_finished() {
        assert!(std::time::Instant::now() < deadline, "a wake-up was lost");
        match q.pop() {
            Some((r, _)) => {
                r.run();
            }
            None => thread::yield_now(),
        }
    }
    join_timeout(signaller).unwrap();
    waker_slot.lock().unwrap().take();
    q.run_all();
    assert!(block_on(task).is_ok());
}

#[test]
fn wakers_cloned_and_dropped_on_many_threads() {
    let q = Queue::new();
    let gate = Gate::new();
    let (runnable, task) = corio_core::spawn(gate.wait(), Sched(q.clone()));
    runnable.run();
    let waker = gate.take_waker().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let w = waker.clone();
            thread::spawn(move || {
                for i in 0..iters(500) {
                    let c = w.clone();
                    if i % 7 == 0 {
                        c.wake();
                    } else {
                        drop(c);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        join_timeout(t).unwrap();
    }
    assert!(q.len() <= 1, "at most one Runnable at a time");
    drop(waker);
    gate.open();
    q.run_all();
    assert!(block_on(task).is_ok());
}

// A schedule function with no state (a plain `fn`): no guard reference is taken around the
// schedule call, so these paths count references differently (and Miri checks them). Only
// the test below uses this queue.
static GLOBAL_QUEUE: Mutex<std::collections::VecDeque<corio_core::Runnable>> =
    Mutex::new(std::collections::VecDeque::new());

fn zst_schedule(runnable: corio_core::Runnable) {
    GLOBAL_QUEUE.lock().unwrap().push_back(runnable);
}

fn zst_pop() -> Option<corio_core::Runnable> {
    GLOBAL_QUEUE.lock().unwrap().pop_front()
}

#[test]
fn zero_sized_schedule_function_every_wake_path() {
    // Woken during its poll (yield), three times.
    let mut left = 3;
    let fut = std::future::poll_fn(move |cx| {
        if left == 0 {
            return Poll::Ready(7);
        }
        left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    });
    let (runnable, task) = corio_core::spawn(fut, zst_schedule);
    runnable.schedule();
    let mut runs = 0;
    while let Some(r) = zst_pop() {
        r.run(); // (the lock is released before run: `zst_pop` returned)
        runs += 1;
    }
    assert_eq!(runs, 4);
    assert_eq!(block_on(task).unwrap(), 7);

    // Woken while idle, by reference and by value, then the Task detached.
    let gate = Gate::new();
    let (runnable, task) = corio_core::spawn(gate.wait(), zst_schedule);
    runnable.run();
    let waker = gate.take_waker().unwrap();
    waker.wake_by_ref();
    assert!(!zst_pop().unwrap().run());
    waker.clone().wake_by_ref();
    let by_value = waker.clone();
    by_value.wake();
    drop(waker);
    drop(task);
    gate.open();
    while let Some(r) = zst_pop() {
        r.run();
    }

    // A local task cancelled from another thread goes home through the schedule function.
    let (runnable, task) = corio_core::spawn_local(std::future::pending::<()>(), zst_schedule);
    runnable.run();
    let task = thread::spawn(move || {
        assert!(task.cancel());
        task
    })
    .join()
    .unwrap();
    zst_pop().expect("sent home").run();
    assert!(block_on(task).unwrap_err().is_cancelled());
}

#[test]
fn the_finish_of_an_awaited_task_wakes_its_awaiter_marked_as_a_join() {
    let q = Queue::new();
    let gate = Gate::new();
    let (child_run, child) = corio_core::spawn(gate.wait(), Sched(q.clone()));
    assert!(!child_run.run());
    // The parent awaits the child's Task: its waker goes into the child's join slot.
    let (parent_run, parent) = corio_core::spawn(child, Sched(q.clone()));
    assert!(!parent_run.run());
    assert_eq!(q.len(), 0);

    // An ordinary wake (the gate) reschedules the child unmarked.
    gate.open();
    let (r, info) = q.pop().expect("the gate woke the child");
    assert!(!info.woken_by_join && !info.woken_while_running);
    // The child finishes and wakes the parent: marked as a join.
    assert!(!r.run());
    let (r, info) = q.pop().expect("the child's finish woke the parent");
    assert!(info.woken_by_join, "a join wake-up: {info:?}");
    assert!(!info.woken_while_running);
    assert!(!r.run());
    assert!(block_on(parent).unwrap().is_ok());
    // The mark covers that wake only: a later ordinary wake on this thread is unmarked.
    let later = Gate::new();
    let (later_run, later_task) = corio_core::spawn(later.wait(), Sched(q.clone()));
    assert!(!later_run.run());
    later.open();
    let (r, info) = q.pop().expect("the gate woke the task");
    assert!(!info.woken_by_join);
    r.run();
    assert!(block_on(later_task).is_ok());
}
