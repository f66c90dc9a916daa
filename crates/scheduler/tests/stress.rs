//! Stress tests: many tasks, every one runs exactly once; deep chains; wake rings.
//! Sized to the counts and to finish in a few seconds each in a debug build
//! on 2 shared cores (each has a generous timeout).

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;

use common::{with_timeout, yield_now};
use corio_scheduler::{Builder, Executor, Handle};
use futures::channel::oneshot;

fn executor() -> Executor {
    Builder::new().worker_threads(2).build().unwrap()
}

/// Marks task `i` as run in a bitmap; fails if it ran before.
fn mark(bits: &[AtomicU64], i: usize) {
    let prev = bits[i / 64].fetch_or(1 << (i % 64), Relaxed);
    assert_eq!(prev & (1 << (i % 64)), 0, "task {i} ran twice");
}

fn all_marked(bits: &[AtomicU64], n: usize) -> bool {
    (0..n).all(|i| bits[i / 64].load(Relaxed) & (1 << (i % 64)) != 0)
}

/// 1,000,000 tiny tasks, half spawned from outside (the injector), half from inside
/// tasks (local queues and LIFO slots, stolen across workers): each runs exactly once.
#[test]
fn million_tasks_inside_and_outside_run_exactly_once() {
    with_timeout(120, || {
        const N: usize = 1_000_000;
        const OUTSIDE: usize = N / 2;
        const SPAWNERS: usize = 100; // inside: 100 tasks spawning 5,000 each
        let ex = executor();
        let bits: Arc<Vec<AtomicU64>> =
            Arc::new((0..N.div_ceil(64)).map(|_| AtomicU64::new(0)).collect());
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel::<()>();
        let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
        let finish = {
            let (done, tx) = (done.clone(), tx.clone());
            move || {
                if done.fetch_add(1, AcqRel) + 1 == N {
                    if let Some(tx) = tx.lock().unwrap().take() {
                        let _ = tx.send(());
                    }
                }
            }
        };
        let finish = Arc::new(finish);
        // Inside: spawners on the workers.
        let per = (N - OUTSIDE) / SPAWNERS;
        for s in 0..SPAWNERS {
            let (bits, finish) = (bits.clone(), finish.clone());
            ex.spawn(async move {
                let handle = Handle::try_current().unwrap();
                for k in 0..per {
                    let i = OUTSIDE + s * per + k;
                    let (bits, finish) = (bits.clone(), finish.clone());
                    handle.spawn(async move {
                        mark(&bits, i);
                        finish();
                    });
                }
            });
        }
        // Outside: this thread.
        for i in 0..OUTSIDE {
            let (bits, finish) = (bits.clone(), finish.clone());
            ex.spawn(async move {
                mark(&bits, i);
                finish();
            });
        }
        ex.block_on(rx).unwrap();
        assert_eq!(done.load(Acquire), N);
        assert!(all_marked(&bits, N));
    });
}

/// 10,000 tasks each yielding 1,000 times (10 million polls): all finish, and the
/// yields go to the back of the queue (a yielding task cannot hog the LIFO slot).
#[test]
fn ten_thousand_tasks_yield_a_thousand_times() {
    with_timeout(120, || {
        const TASKS: usize = 10_000;
        const YIELDS: usize = 1_000;
        let ex = executor();
        let yields = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let yields = yields.clone();
                ex.spawn(async move {
                    for _ in 0..YIELDS {
                        yield_now().await;
                    }
                    yields.fetch_add(YIELDS, Relaxed);
                })
            })
            .collect();
        ex.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(yields.load(Relaxed), TASKS * YIELDS);
        assert!(ex.metrics().polls() >= (TASKS * (YIELDS + 1)) as u64);
    });
}

/// Each task spawns the next, 100,000 deep: no stack growth (spawn does not run the
/// task inline) and the chain completes.
#[test]
fn chained_spawns_100_000_deep() {
    with_timeout(60, || {
        const DEPTH: usize = 100_000;
        fn link(handle: Handle, left: usize, done: oneshot::Sender<usize>) {
            if left == 0 {
                let _ = done.send(DEPTH);
                return;
            }
            let h = handle.clone();
            handle.spawn(async move { link(h, left - 1, done) });
        }
        let ex = executor();
        let (tx, rx) = oneshot::channel();
        let handle = ex.handle().clone();
        ex.spawn(async move { link(handle, DEPTH, tx) });
        assert_eq!(ex.block_on(rx).unwrap(), DEPTH);
    });
}

/// Rings of tasks passing a token through channels (each wakes the next): 50 rings of
/// 20 tasks, 200 laps each.
#[test]
fn wake_rings() {
    with_timeout(60, || {
        const RINGS: usize = 50;
        const SIZE: usize = 20;
        const LAPS: usize = 200;
        let ex = executor();
        let mut ends = Vec::new();
        for _ in 0..RINGS {
            let (txs, rxs): (Vec<_>, Vec<_>) = (0..SIZE)
                .map(|_| futures::channel::mpsc::unbounded::<usize>())
                .unzip();
            let mut rxs: Vec<_> = rxs.into_iter().map(Some).collect();
            for i in 0..SIZE {
                let mut rx = rxs[i].take().unwrap();
                let next = txs[(i + 1) % SIZE].clone();
                let first = i == 0;
                ends.push(ex.spawn(async move {
                    use futures::StreamExt;
                    if first {
                        next.unbounded_send(0).unwrap();
                    }
                    let mut last = 0;
                    for _ in 0..LAPS {
                        let hops = rx.next().await.unwrap();
                        last = hops + 1;
                        let _ = next.unbounded_send(last);
                    }
                    last
                }));
            }
        }
        let total: usize = ex.block_on(async {
            let mut max = 0;
            for t in ends {
                max = max.max(t.await.unwrap());
            }
            max
        });
        assert_eq!(total, SIZE * LAPS);
    });
}
