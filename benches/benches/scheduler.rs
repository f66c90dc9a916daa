//! Scheduler benches: the same workloads on corio-scheduler, tokio's multi-thread
//! runtime and smol's async-executor, 2 worker threads each, side by side in one
//! criterion group per workload.
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-sched cargo bench -p corio-benches --bench scheduler -- \
//!     --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every workload waits for completion the same way on all three (a countdown and a
//! `futures::channel::oneshot` awaited in the runtime's `block_on`), so the figures
//! compare the schedulers, not the harness.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::channel::{mpsc, oneshot};
use futures::{SinkExt, StreamExt};

const WORKERS: usize = 2;
const SPAWN_MANY: usize = 10_000;
const YIELD_TASKS: usize = 200;
const YIELDS: usize = 1_000;
const PAIRS: usize = 1_000;
const ROUND_TRIPS: usize = 10;
const CHAIN_DEPTH: usize = 1_000;

/// The three runtimes, behind one interface.
trait Rt: Sync {
    fn name(&self) -> &'static str;
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send + 'static>>);
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T;
    /// Spawns from inside a task of this runtime.
    fn spawn_inside(f: impl Future<Output = ()> + Send + 'static);
    fn yield_now() -> impl Future<Output = ()> + Send;
}

struct Corio(corio_scheduler::Executor);
impl Rt for Corio {
    fn name(&self) -> &'static str {
        "corio"
    }
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        drop(self.0.spawn(f));
    }
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }
    fn spawn_inside(f: impl Future<Output = ()> + Send + 'static) {
        let handle = corio_scheduler::Handle::try_current().expect("inside a corio task");
        drop(handle.spawn(f));
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        YieldNow(false)
    }
}

struct Tokio(tokio::runtime::Runtime);
impl Rt for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        drop(self.0.spawn(f));
    }
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }
    fn spawn_inside(f: impl Future<Output = ()> + Send + 'static) {
        drop(tokio::spawn(f));
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

struct Smol {
    ex: Arc<async_executor::Executor<'static>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}
std::thread_local! {
    static SMOL_EX: std::cell::RefCell<Option<Arc<async_executor::Executor<'static>>>> =
        const { std::cell::RefCell::new(None) };
}
impl Smol {
    fn new() -> Smol {
        let ex = Arc::new(async_executor::Executor::new());
        let (stop, rx) = smol::channel::unbounded::<()>();
        let threads = (0..WORKERS)
            .map(|_| {
                let (ex, rx) = (ex.clone(), rx.clone());
                std::thread::spawn(move || {
                    SMOL_EX.with(|e| *e.borrow_mut() = Some(ex.clone()));
                    let _ = smol::future::block_on(ex.run(rx.recv()));
                })
            })
            .collect();
        Smol {
            ex,
            stop: Some(stop),
            threads,
        }
    }
}
impl Drop for Smol {
    fn drop(&mut self) {
        drop(self.stop.take());
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
impl Rt for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        self.ex.spawn(f).detach();
    }
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        smol::future::block_on(f)
    }
    fn spawn_inside(f: impl Future<Output = ()> + Send + 'static) {
        SMOL_EX.with(|e| {
            e.borrow()
                .as_ref()
                .expect("inside a smol worker")
                .spawn(f)
                .detach()
        });
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        smol::future::yield_now()
    }
}

/// Yield once (corio has no yield_now of its own below the facade).
struct YieldNow(bool);
impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Counts finished tasks; the last one completes the oneshot.
struct Countdown {
    left: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}
impl Countdown {
    fn new(n: usize) -> (Arc<Countdown>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        (
            Arc::new(Countdown {
                left: AtomicUsize::new(n),
                done: Mutex::new(Some(tx)),
            }),
            rx,
        )
    }
    fn one_done(&self) {
        if self.left.fetch_sub(1, AcqRel) == 1 {
            if let Some(tx) = self.done.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    }
}

fn spawn_many<R: Rt>(rt: &R) {
    let (count, rx) = Countdown::new(SPAWN_MANY);
    rt.spawn(Box::pin(async move {
        for _ in 0..SPAWN_MANY {
            let count = count.clone();
            R::spawn_inside(async move { count.one_done() });
        }
    }));
    rt.block_on(rx).unwrap();
}

fn spawn_remote<R: Rt>(rt: &R) {
    let (count, rx) = Countdown::new(SPAWN_MANY);
    for _ in 0..SPAWN_MANY {
        let count = count.clone();
        rt.spawn(Box::pin(async move { count.one_done() }));
    }
    rt.block_on(rx).unwrap();
}

fn yield_many<R: Rt>(rt: &R) {
    let (count, rx) = Countdown::new(YIELD_TASKS);
    for _ in 0..YIELD_TASKS {
        let count = count.clone();
        rt.spawn(Box::pin(async move {
            for _ in 0..YIELDS {
                R::yield_now().await;
            }
            count.one_done();
        }));
    }
    rt.block_on(rx).unwrap();
}

fn ping_pong<R: Rt>(rt: &R) {
    let (count, rx) = Countdown::new(PAIRS);
    rt.spawn(Box::pin(async move {
        for _ in 0..PAIRS {
            let count = count.clone();
            R::spawn_inside(async move {
                let (mut ping_tx, mut ping_rx) = mpsc::channel::<usize>(1);
                let (mut pong_tx, mut pong_rx) = mpsc::channel::<usize>(1);
                R::spawn_inside(async move {
                    while let Some(v) = ping_rx.next().await {
                        if pong_tx.send(v + 1).await.is_err() {
                            break;
                        }
                    }
                });
                for i in 0..ROUND_TRIPS {
                    ping_tx.send(i).await.unwrap();
                    assert_eq!(pong_rx.next().await, Some(i + 1));
                }
                count.one_done();
            });
        }
    }));
    rt.block_on(rx).unwrap();
}

fn chained_spawn<R: Rt>(rt: &R) {
    fn link<R: Rt>(left: usize, done: oneshot::Sender<()>) {
        if left == 0 {
            let _ = done.send(());
        } else {
            R::spawn_inside(async move { link::<R>(left - 1, done) });
        }
    }
    let (tx, rx) = oneshot::channel();
    rt.spawn(Box::pin(async move { link::<R>(CHAIN_DEPTH, tx) }));
    rt.block_on(rx).unwrap();
}

fn runtimes() -> (Corio, Tokio, Smol) {
    let corio = corio_scheduler::Builder::new()
        .worker_threads(WORKERS)
        .build()
        .unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .unwrap();
    (Corio(corio), Tokio(tokio), Smol::new())
}

macro_rules! workload {
    ($fn_name:ident, $workload:ident) => {
        fn $fn_name(c: &mut Criterion) {
            let (corio, tokio, smol) = runtimes();
            let mut group = c.benchmark_group(stringify!($workload));
            group.bench_function(BenchmarkId::from_parameter(corio.name()), |b| {
                b.iter(|| $workload(&corio))
            });
            group.bench_function(BenchmarkId::from_parameter(tokio.name()), |b| {
                b.iter(|| $workload(&tokio))
            });
            group.bench_function(BenchmarkId::from_parameter(smol.name()), |b| {
                b.iter(|| $workload(&smol))
            });
            group.finish();
        }
    };
}

workload!(bench_spawn_many, spawn_many);
workload!(bench_spawn_remote, spawn_remote);
workload!(bench_yield_many, yield_many);
workload!(bench_ping_pong, ping_pong);
workload!(bench_chained_spawn, chained_spawn);

criterion_group!(
    benches,
    bench_spawn_many,
    bench_spawn_remote,
    bench_yield_many,
    bench_ping_pong,
    bench_chained_spawn
);
criterion_main!(benches);
