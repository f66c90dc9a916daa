//! A multi-threaded executor built from corio-core alone, running 100,000 tasks.
//!
//! It shows what any runtime needs to do to use corio-core: keep a queue of `Runnable`s,
//! give `spawn` a schedule function that pushes to it, and have worker threads pop and
//! `run()` them. Everything else (wakers, join handles, cancellation, panics) is the
//! task's job.
//!
//! Run it: `cargo run --release --example core_executor`

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use corio_core::{Runnable, Task};

/// How many tasks to run: enough for the per-task cost to dominate the start-up.
const TASKS: u64 = 100_000;
/// Worker threads: "a few", whatever the machine.
const WORKERS: usize = 4;

/// The executor: a FIFO of runnables shared by the workers, and a flag to stop them.
struct Executor {
    queue: Mutex<(VecDeque<Runnable>, bool)>,
    available: Condvar,
}

impl Executor {
    fn new() -> Arc<Executor> {
        Arc::new(Executor {
            queue: Mutex::new((VecDeque::new(), false)),
            available: Condvar::new(),
        })
    }

    /// Spawns a future: corio-core makes the task, we only say where its Runnable goes.
    fn spawn<F>(self: &Arc<Self>, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let executor = self.clone();
        let schedule = move |runnable| executor.push(runnable);
        let (runnable, task) = corio_core::spawn(future, schedule);
        runnable.schedule();
        task
    }

    fn push(&self, runnable: Runnable) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.0.push_back(runnable);
        drop(queue);
        self.available.notify_one();
    }

    /// A worker: pop and run until shut down.
    fn work(&self) {
        loop {
            let runnable = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(r) = queue.0.pop_front() {
                        break r;
                    }
                    if queue.1 {
                        return;
                    }
                    queue = self
                        .available
                        .wait(queue)
                        .unwrap_or_else(|e| e.into_inner());
                }
            };
            // Polls once; panics are caught inside and end up in the Task.
            runnable.run();
        }
    }

    /// Stops the workers; runnables still queued are dropped, which cancels their tasks.
    fn shutdown(&self) {
        let leftovers = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.1 = true;
            std::mem::take(&mut queue.0)
        };
        self.available.notify_all();
        drop(leftovers);
    }
}

/// Yields once: the task wakes itself and goes to the back of the queue.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Waits for a future on the calling thread (parks between polls).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

fn main() {
    let executor = Executor::new();
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let executor = executor.clone();
            thread::Builder::new()
                .name(format!("core-executor-{i}"))
                .spawn(move || executor.work())
                .expect("could not start a worker thread (out of threads or memory?)")
        })
        .collect();

    let start = Instant::now();
    let tasks: Vec<Task<u64>> = (0..TASKS)
        .map(|i| {
            executor.spawn(async move {
                yield_now().await; // every task is polled twice: spawn + one wake-up
                i
            })
        })
        .collect();
    let mut sum = 0;
    let mut count = 0u64;
    for task in tasks {
        sum += block_on(task).expect("these tasks neither panic nor get cancelled");
        count += 1;
    }
    let elapsed = start.elapsed();

    executor.shutdown();
    for worker in workers {
        worker.join().expect("a worker thread panicked");
    }
    assert_eq!(
        sum,
        TASKS * (TASKS - 1) / 2,
        "every task returned its own number"
    );
    println!(
        "ran {count} tasks (each polled twice) on {WORKERS} worker threads in {:.1} ms ({:.0} ns per task)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_nanos() as f64 / count as f64
    );
}
